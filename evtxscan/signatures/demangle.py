"""A small demangler for Microsoft Visual C++ decorated names (``?Name@@YGJ...Z``).

Entry-point popups name the missing export as the linker saw it, e.g.
``?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z``. ``c++filt`` reads only Itanium (GCC)
names, so this module covers the common MSVC grammar: functions (global and member, access,
calling convention, parameter and return types with back-references), special names
(constructors, destructors, vftables) and data. Anything it cannot read returns None and the
caller shows the name as logged.
"""

from __future__ import annotations

_BASIC = {
    "C": "signed char",
    "D": "char",
    "E": "unsigned char",
    "F": "short",
    "G": "unsigned short",
    "H": "int",
    "I": "unsigned int",
    "J": "long",
    "K": "unsigned long",
    "M": "float",
    "N": "double",
    "O": "long double",
    "X": "void",
    "Z": "...",
}
_EXTENDED = {
    "N": "bool",
    "J": "__int64",
    "K": "unsigned __int64",
    "W": "wchar_t",
    "S": "char16_t",
    "U": "char32_t",
}
_CV = {"A": "", "B": "const ", "C": "volatile ", "D": "const volatile "}
_CONVENTIONS = {
    "A": "__cdecl",
    "C": "__pascal",
    "E": "__thiscall",
    "G": "__stdcall",
    "I": "__fastcall",
    "Q": "__vectorcall",
}
_ACCESS = {
    "A": ("private: ", True),
    "B": ("private: ", True),
    "C": ("private: static ", False),
    "D": ("private: static ", False),
    "E": ("private: virtual ", True),
    "F": ("private: virtual ", True),
    "I": ("protected: ", True),
    "J": ("protected: ", True),
    "K": ("protected: static ", False),
    "L": ("protected: static ", False),
    "M": ("protected: virtual ", True),
    "N": ("protected: virtual ", True),
    "Q": ("public: ", True),
    "R": ("public: ", True),
    "S": ("public: static ", False),
    "T": ("public: static ", False),
    "U": ("public: virtual ", True),
    "V": ("public: virtual ", True),
    "Y": ("", False),
    "Z": ("", False),
}
_SPECIAL = {
    "0": "ctor",
    "1": "dtor",
    "_7": "`vftable'",
    "_8": "`vbtable'",
    "_U": "operator new[]",
    "_V": "operator delete[]",
    "2": "operator new",
    "3": "operator delete",
    "4": "operator=",
    "8": "operator==",
    "9": "operator!=",
}


class _Fail(Exception):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.names: list[str] = []
        self.types: list[str] = []

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def take(self, size: int = 1) -> str:
        part = self.peek(size)
        if len(part) < size:
            raise _Fail
        self.pos += size
        return part

    def simple_name(self) -> str:
        if self.peek().isdigit():
            index = int(self.take())
            if index >= len(self.names):
                raise _Fail
            return self.names[index]
        end = self.text.find("@", self.pos)
        if end <= self.pos:
            raise _Fail
        name = self.text[self.pos : end]
        self.pos = end + 1
        if name not in self.names and len(self.names) < 10:
            self.names.append(name)
        return name

    def scope(self) -> list[str]:
        parts = []
        while self.peek() != "@":
            if not self.peek():
                raise _Fail
            parts.append(self.simple_name())
        self.take()
        return parts

    def type(self) -> str:
        code = self.take()
        if code in _BASIC:
            return _BASIC[code]
        if code == "_":
            ext = self.take()
            if ext not in _EXTENDED:
                raise _Fail
            return _EXTENDED[ext]
        if code in "PQRSA":
            if self.peek() == "E":  # __ptr64
                self.take()
            cv = _CV.get(self.take())
            if cv is None:
                raise _Fail
            target = self.type()
            mark = "&" if code == "A" else "*"
            const_ptr = " const" if code in "QS" else ""
            return f"{cv}{target} {mark}{const_ptr}".replace("  ", " ")
        if code in "VUT":
            kind = {"V": "class", "U": "struct", "T": "union"}[code]
            return f"{kind} " + "::".join(reversed(self.scope()))
        if code == "W":
            self.take()  # underlying enum type
            return "enum " + "::".join(reversed(self.scope()))
        raise _Fail

    def parameter(self) -> str:
        if self.peek().isdigit():
            index = int(self.take())
            if index >= len(self.types):
                raise _Fail
            return self.types[index]
        start = self.pos
        value = self.type()
        if self.pos - start > 1 and len(self.types) < 10:
            self.types.append(value)
        return value

    def parameters(self) -> str:
        if self.peek() == "X":
            self.take()
            return "void"
        params = []
        while self.peek() not in ("@", "Z", ""):
            params.append(self.parameter())
        if self.peek() == "@":
            self.take()
        return ",".join(params)


def demangle(decorated: str) -> str | None:
    """The readable form of an MSVC-decorated name, or None when it is not one we read."""
    if not decorated.startswith("?"):
        return None
    parser = _Parser(decorated[1:])
    try:
        return _demangle(parser)
    except (_Fail, ValueError):
        return None


def _demangle(parser: _Parser) -> str:
    special = None
    if parser.peek() == "?":
        parser.take()
        code = parser.take(2) if parser.peek() == "_" else parser.take()
        if code not in _SPECIAL:
            raise _Fail
        special = _SPECIAL[code]
        first = None
    else:
        first = parser.simple_name()
    scope = list(reversed(parser.scope()))
    owner = "::".join(scope)
    if special in ("ctor", "dtor"):
        if not scope:
            raise _Fail
        name = scope[-1] if special == "ctor" else "~" + scope[-1]
    else:
        name = special or first or ""
    full = f"{owner}::{name}" if owner else name
    kind = parser.take()
    if kind in ("6", "7"):  # vftable / vbtable data
        cv = _CV.get(parser.take(), "")
        return f"{cv}{full}".strip()
    if kind in "0123":  # variables: 0-2 class statics, 3 global
        var_type = parser.type()
        return f"{var_type} {full}"
    if kind not in _ACCESS:
        raise _Fail
    access, has_this = _ACCESS[kind]
    this_cv = ""
    if has_this:
        if parser.peek() == "E":
            parser.take()
        this_cv = {"A": "", "B": " const", "C": " volatile", "D": " const volatile"}.get(
            parser.take(), ""
        )
    convention = _CONVENTIONS.get(parser.take())
    if convention is None:
        raise _Fail
    returns = "" if parser.peek() == "@" else parser.type()
    if parser.peek() == "@":
        parser.take()
    params = parser.parameters()
    if parser.peek() == "Z":
        parser.take()
    if parser.pos != len(parser.text):
        raise _Fail
    prefix = f"{returns} " if returns else ""
    return f"{access}{prefix}{convention} {full}({params}){this_cv}"
