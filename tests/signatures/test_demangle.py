import pytest

from evtxscan.signatures.demangle import demangle


@pytest.mark.parametrize(
    ("decorated", "readable"),
    [
        (
            "?HrRegisterProtocol@@YGJPAVPROTO@@FJJJKHPAXK@Z",
            "long __stdcall HrRegisterProtocol(class PROTO *,short,long,long,long,unsigned long,"
            "int,void *,unsigned long)",
        ),
        ("??_7type_info@@6B@", "const type_info::`vftable'"),
        ("?Func@Class@@QAEXXZ", "public: void __thiscall Class::Func(void)"),
        ("??0CString@@QAE@PBD@Z", "public: __thiscall CString::CString(const char *)"),
        ("??1CString@@QAE@XZ", "public: __thiscall CString::~CString(void)"),
        ("?Get@Foo@@QBEHABV1@@Z", "public: int __thiscall Foo::Get(const class Foo &) const"),
        ("?x@@3HA", "int x"),
        ("?f@@YA_NPB_W@Z", "bool __cdecl f(const wchar_t *)"),
        ("??_U@YAPAXI@Z", "void * __cdecl operator new[](unsigned int)"),
        ("??_V@YAXPAX@Z", "void __cdecl operator delete[](void *)"),
    ],
)
def test_msvc_names(decorated: str, readable: str) -> None:
    assert demangle(decorated) == readable


@pytest.mark.parametrize("text", ["GetTickCount64", "?", "?bad", "?f@@YAXQ", "_Z3foov"])
def test_non_msvc_or_broken_names_return_none(text: str) -> None:
    assert demangle(text) is None
