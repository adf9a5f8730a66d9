"""Named face regions as landmark index polygons, built once from MediaPipe's own edge lists.

Source: ``mediapipe/python/solutions/face_mesh_connections.py`` (the connection sets the Face Mesh
model was drawn with). Sides are named from the *image's* point of view: ``left_*`` is on the left of
the picture (MediaPipe's "RIGHT_EYE" set, the subject's right eye), which is what a renderer needs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as mesh

Edges = frozenset[tuple[int, int]]

# Landmarks with no official connection set: cheek centres and skin-sampling patches, read off MediaPipe's
# canonical face model (mediapipe/modules/face_geometry/data/canonical_face_model_uv_visualization.png).
CHEEK_CENTRE = {"left": 205, "right": 425}
SKIN_PATCHES = {
    "left_cheek": (50, 101, 118, 205),
    "right_cheek": (280, 330, 347, 425),
    "forehead": (9, 108, 69, 151, 299, 337),
}
OUTER_EYE_CORNER = {"left": 33, "right": 263}   # their distance is the face-size unit
INNER_EYE_CORNER = {"left": 133, "right": 362}
LID_TOP = {"left": 159, "right": 386}
# The brow path nearer the eye starts at these landmarks (46-53-52-65-55 and 276-283-282-295-285).
BROW_LOWER_START = {"left": 46, "right": 276}
MOUTH_CORNERS = (61, 291)


def cycles(edges: Edges) -> list[list[int]]:
    """Split an undirected edge set into its closed loops (each as an ordered vertex list)."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen: set[int] = set()
    loops = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            options = [n for n in neighbours[current] if n != previous]
            following = options[0] if options else None
            if following is None or following == start:
                break
            loop.append(following)
            seen.add(following)
            previous, current = current, following
        loops.append(loop)
    return loops


def chains(edges: Edges) -> list[list[int]]:
    """Split an edge set made of open paths into ordered paths, each starting at an end point."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    ends = sorted(v for v, ns in neighbours.items() if len(ns) == 1)
    seen: set[int] = set()
    paths = []
    for start in ends:
        if start in seen:
            continue
        path, previous = [start], None
        seen.add(start)
        while True:
            options = [n for n in neighbours[path[-1]] if n != previous and n not in seen]
            if not options:
                break
            previous = path[-1]
            path.append(options[0])
            seen.add(options[0])
        paths.append(path)
    return paths


@lru_cache(maxsize=1)
def index_sets() -> dict[str, tuple[int, ...]]:
    """Every named polygon (lips, mouth opening, eyes, irises, brows, face oval) as landmark ids."""
    lip_loops = cycles(mesh.FACEMESH_LIPS)
    if len(lip_loops) != 2:
        raise RuntimeError(f"Expected two lip contours in FACEMESH_LIPS, found {len(lip_loops)}")
    outer, inner = sorted(lip_loops, key=lambda loop: 61 not in loop)  # the outer contour holds corner 61
    sets = {
        "lips_outer": tuple(outer),
        "mouth_opening": tuple(inner),
        "left_eye": tuple(cycles(mesh.FACEMESH_RIGHT_EYE)[0]),
        "right_eye": tuple(cycles(mesh.FACEMESH_LEFT_EYE)[0]),
        "left_iris": tuple(cycles(mesh.FACEMESH_RIGHT_IRIS)[0]),
        "right_iris": tuple(cycles(mesh.FACEMESH_LEFT_IRIS)[0]),
        "left_brow": _brow_polygon(mesh.FACEMESH_RIGHT_EYEBROW),
        "right_brow": _brow_polygon(mesh.FACEMESH_LEFT_EYEBROW),
        "face_oval": tuple(cycles(mesh.FACEMESH_FACE_OVAL)[0]),
    }
    for side, eye in (("left", mesh.FACEMESH_RIGHT_EYE), ("right", mesh.FACEMESH_LEFT_EYE)):
        sets[f"{side}_upper_lid"] = _upper_lid(eye, OUTER_EYE_CORNER[side], INNER_EYE_CORNER[side], LID_TOP[side])
        sets[f"{side}_brow_lower"] = tuple(_brow_lower(mesh.FACEMESH_RIGHT_EYEBROW if side == "left"
                                                       else mesh.FACEMESH_LEFT_EYEBROW, LID_TOP[side]))
    return sets


def _brow_polygon(edges: Edges) -> tuple[int, ...]:
    """A brow is two parallel paths (lower and upper edge); join them into one closed outline."""
    first, second = chains(edges)
    return tuple(first + second[::-1])


def _brow_lower(edges: Edges, lid_top: int) -> list[int]:
    """The brow's lower path, ordered from the outer end to the inner end."""
    for path in chains(edges):
        for start in BROW_LOWER_START.values():
            if path[0] == start:
                return path
            if path[-1] == start:
                return path[::-1]
    raise RuntimeError("No lower brow path found in the MediaPipe brow connections")


def _upper_lid(edges: Edges, outer_corner: int, inner_corner: int, top: int) -> tuple[int, ...]:
    """The half of an eye loop between its corners that holds the top-of-lid landmark ``top``."""
    loop = cycles(edges)[0]
    start = loop.index(outer_corner)
    loop = loop[start:] + loop[:start]
    split = loop.index(inner_corner)
    first, second = loop[:split + 1], [*loop[split:], outer_corner][::-1]
    return tuple(first if top in first else second)


def polygon(landmarks: np.ndarray, name: str) -> np.ndarray:
    """``(n, 2)`` float pixel coordinates of a named region for one face's ``(478, 2)`` landmarks."""
    return landmarks[list(index_sets()[name])]
