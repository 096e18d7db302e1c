"""Any machine: images for amd64 and arm64 (docker-bake.hcl), LF line endings (.gitattributes).

No buildx runs here, so the bake file is read with an HCL parser and held to what the other
deployment files build and run: each target's context and Dockerfile exist, it builds for
both platforms, its tag is the image compose builds from that same Dockerfile, and every image
of ours that the kustomize tree runs is built by it.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from tests.stack import ROOT
from tests.test_deploy import (
    OVERLAYS,
    compose_config_with_profile,
    containers,
    rendered,
    rendered_with_component,
)

BAKE_FILE = ROOT / "docker-bake.hcl"
PLATFORMS = {"linux/amd64", "linux/arm64"}
# What .gitattributes must check out with LF: by suffix, by file name, and any script (#!).
LF_SUFFIXES = {".sh", ".envsh", ".py", ".yml", ".yaml", ".template", ".conf", ".hcl", ".env"}
LF_NAMES = {"Dockerfile", "Containerfile", "Makefile", ".env.example"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def runs_on_linux(name: str) -> bool:
    """A file that a Linux tool or image reads or runs, where a CR would break it."""
    path = Path(name)
    if path.suffix in LF_SUFFIXES or path.name in LF_NAMES or path.name.endswith(".Dockerfile"):
        return True
    with open(ROOT / name, "rb") as file:
        return file.read(2) == b"#!"


@dataclass(frozen=True)
class BakeTarget:
    name: str
    context: Path
    dockerfile: Path
    platforms: frozenset[str]
    tags: tuple[str, ...]


@cache
def bake_targets(**variables: str) -> dict[str, BakeTarget]:
    """The default group's targets as buildx resolves them: ``inherits`` merged in, ``${VAR}``
    replaced by ``variables`` or the variable's default."""
    options = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    with open(BAKE_FILE) as file:
        bake = hcl2.load(file, serialization_options=options)
    values = {name: str(v["default"]) for block in bake["variable"] for name, v in block.items()}
    values.update(variables)
    blocks: dict[str, dict[str, Any]] = {
        name: body for block in bake["target"] for name, body in block.items()
    }

    def resolved(name: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for parent in blocks[name].get("inherits", []):
            body.update(resolved(parent))
        body.update(blocks[name])
        return body

    def expand(text: str) -> str:
        return INTERPOLATION.sub(lambda match: values[match[1]], text)

    (default,) = [group["default"] for group in bake["group"] if "default" in group]
    targets = {}
    for name in default["targets"]:
        body = resolved(name)
        context = ROOT / body.get("context", ".")
        targets[name] = BakeTarget(
            name=name,
            context=context,
            dockerfile=context / body.get("dockerfile", "Dockerfile"),
            platforms=frozenset(body.get("platforms", [])),
            tags=tuple(expand(tag) for tag in body.get("tags", [])),
        )
    return targets


def kubernetes_images() -> set[str]:
    """Every image a pod runs in any overlay, or with the optional load generator."""
    documents = [doc for overlay in OVERLAYS for doc in rendered(overlay)]
    documents += rendered_with_component("load-generator")
    return {
        container["image"]
        for doc in documents
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}
        for container in containers(doc)
    }


# --- line endings ------------------------------------------------------------------------------


def test_every_file_that_runs_on_linux_is_checked_out_with_lf() -> None:
    files = [name for name in tracked_files() if runs_on_linux(name)]
    # the selection finds every kind the attributes are for
    names = {Path(name).name for name in files}
    suffixes = {Path(name).suffix for name in files}
    assert {"Dockerfile", "Makefile"} <= names
    assert {".py", ".yaml", ".yml", ".template", ".hcl"} <= suffixes
    assert ".ci/run" in files  # a script without a suffix, found by its #! line
    result = subprocess.run(
        ["git", "check-attr", "eol", "--", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    eol = dict(line.rsplit(": eol: ", 1) for line in result.stdout.splitlines())
    assert set(eol) == set(files)
    assert {name: value for name, value in eol.items() if value != "lf"} == {}


# --- docker-bake.hcl ---------------------------------------------------------------------------


def test_bake_builds_every_dockerfile_for_amd64_and_arm64() -> None:
    targets = bake_targets()
    for target in targets.values():
        assert target.context.is_dir(), target
        assert target.dockerfile.is_file(), target
        assert target.platforms >= PLATFORMS, target
        assert target.tags, target
    dockerfiles = {ROOT / name for name in tracked_files() if Path(name).name == "Dockerfile"}
    assert {target.dockerfile for target in targets.values()} == dockerfiles


def test_bake_tags_are_the_images_compose_builds_from_the_same_dockerfile() -> None:
    targets = bake_targets()
    by_build = {(t.context, t.dockerfile): t for t in targets.values()}
    built = compose_config_with_profile("load")["services"]
    for name, service in built.items():
        if "build" not in service:
            continue
        context = Path(service["build"]["context"])
        target = by_build.get((context, context / service["build"].get("dockerfile", "Dockerfile")))
        assert target is not None, f"no bake target builds compose's {name}"
        assert target.tags == (service["image"],), name


def test_every_image_of_ours_that_kubernetes_runs_is_built_by_bake() -> None:
    """Ours: any image that no registry serves, so compose builds it."""
    services = compose_config_with_profile("load")["services"].values()
    ours = {s["image"] for s in services if "build" in s}
    pulled = {s["image"] for s in services if "build" not in s}
    tags = {tag for target in bake_targets().values() for tag in target.tags}
    images = kubernetes_images()
    assert images & ours, images
    assert images - pulled <= tags, images - pulled - tags


def test_registry_prefixes_every_tag() -> None:
    """``REGISTRY=ghcr.io/you/ docker buildx bake --push``: the images go to one's own registry."""
    plain, prefixed = bake_targets(), bake_targets(REGISTRY="ghcr.io/example/")
    for name, target in plain.items():
        assert prefixed[name].tags == tuple("ghcr.io/example/" + tag for tag in target.tags)
