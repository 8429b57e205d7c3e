"""Expanding the paths a user names into sources: directories walked as ``os.walk`` would."""

from __future__ import annotations

import os
from pathlib import Path

from evtxscan.sources.inputs import Source, expand_paths


def _os_walk_files(top: Path) -> list[str]:
    """The files ``os.walk`` lists under ``top`` (sorted, links to directories not
    followed), those that are regular files or links to one."""
    found = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        found += [str(Path(root, name)) for name in sorted(files) if Path(root, name).is_file()]
    return found


def test_a_directory_expands_to_its_files_in_the_order_os_walk_gives(tmp_path: Path) -> None:
    top = tmp_path / "logs"
    for relative in ("b.evtx", "a.evtx", "Z.evtx", "sub/x.evtx", "sub/deeper/y.evtx",
                     "a-dir/c.evtx", "sub2/z.evtx", "sub/a.evtx"):  # fmt: skip
        path = top / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (top / "empty").mkdir()
    (top / "link-to-file.evtx").symlink_to(top / "sub" / "x.evtx")
    (top / "link-to-dir").symlink_to(top / "sub", target_is_directory=True)  # not followed
    (top / "broken.evtx").symlink_to(top / "missing.evtx")  # not a file: left out
    os.mkfifo(top / "pipe")  # not a regular file: left out
    expanded = list(expand_paths(top))
    assert all(isinstance(item, Source) for item in expanded)
    paths = [item.path for item in expanded if isinstance(item, Source)]
    assert paths == _os_walk_files(top)
    assert [Path(p).relative_to(top).as_posix() for p in paths] == [
        "Z.evtx", "a.evtx", "b.evtx", "link-to-file.evtx", "a-dir/c.evtx",
        "sub/a.evtx", "sub/x.evtx", "sub/deeper/y.evtx", "sub2/z.evtx",
    ]  # fmt: skip
