"""Packaging glue pyproject.toml cannot express: ship the top-level ``signatures/`` directory
inside the wheel as ``evtxscan/builtin_signatures`` (a package-dir mapping, no symlink, so a
Windows checkout without ``core.symlinks`` builds the same wheel)."""

from setuptools import find_packages, setup

#: Kinds of packaged data under evtxscan/data (catalogs, error tables, their licences).
DATA_FILES = ("yaml", "json", "json.gz", "db", "txt", "md")

setup(
    packages=[*find_packages(include=["evtxscan", "evtxscan.*"]), "evtxscan.builtin_signatures"],
    package_dir={"evtxscan.builtin_signatures": "signatures"},
    package_data={
        "evtxscan": [
            "py.typed",
            *(f"data/**/*.{ext}" for ext in DATA_FILES),
            "data/**/LICENSE",
            "authoring/data/*.json",
        ],
        "evtxscan.builtin_signatures": [
            *("*.yaml", "*.json", "*.md", "*/*.yaml"),
            "drafts/index.json",
        ],
    },
)
