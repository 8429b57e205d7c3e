"""Coverage-guided fuzzing with atheris (libFuzzer for Python), where it installs.

libFuzzer mutates raw bytes guided by the coverage of evtxscan's readers; the format is
decided by content, as for users. The seeds of :mod:`fuzz.seeds` are written to the corpus
directory when it is empty, so libFuzzer starts from valid files of every format. A crash,
an "internal error" row or an exception is reported to libFuzzer as a crash (it saves the
input as ``crash-*``), and a file over the time limit as a timeout (``-timeout=``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def _write_seeds(corpus: Path) -> None:
    from fuzz.seeds import all_seeds

    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for fmt, seeds in all_seeds().items():
        for index, data in enumerate(seeds):
            (corpus / f"{fmt}-{index}").write_bytes(data)


def run_atheris(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["evtxscan"]):
        from evtxscan.scanning import read_records
        from fuzz.driver import FUZZ_LIMITS

    folder = Path(tempfile.mkdtemp(prefix="evtxscan-atheris-"))
    path = folder / "input"
    toggle = [0]

    def one_input(data: bytes) -> None:
        path.write_bytes(data)
        toggle[0] ^= 1
        stream = read_records(
            path,
            backend="python" if toggle[0] else "rust",
            time_budget=10.0,
            bundle_limits=FUZZ_LIMITS,
        )
        for _ in stream:
            pass
        errors = " ".join(stream.integrity["errors"])
        if "internal error" in errors:
            raise RuntimeError(f"internal error row: {errors[:500]}")

    corpora = [Path(a) for a in argv[1:] if not a.startswith("-")]
    for corpus in corpora[:1]:
        _write_seeds(corpus)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    run_atheris(sys.argv)
