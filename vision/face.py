"""Faces and their 478 landmarks (with irises) in pixel coordinates, via MediaPipe's bundled models.

The Face Mesh solution's own detector is short-range (selfie distance) and misses faces that are small
in the frame or several in a group photo. So faces are found first with both face detectors (the
full-range one for small faces), and the mesh runs on each face's crop, scaled to a size the mesh
works best at; its landmarks are then mapped back to the photo.

The mesh's landmarks depend on where its crop falls: move a photo by a few pixels and the lip points
move by that much plus a wander of 0.1-0.7 px. Averaging the meshes of a few crops placed slightly
apart cancels part of it (measured on seven framings of two faces, 16 shifts each: two views wander
0.72x as much as one, four views 0.54x). That keeps a lip line where the lips are, whatever the
framing, and brings the server's landmarks next to those of the browser's Face Mesh in live try-on.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from mediapipe.python.solutions import face_detection as mp_detection
from mediapipe.python.solutions import face_mesh as mp_mesh
from PIL import Image

from vision.regions import OUTER_EYE_CORNER

MESH_INPUT = 384          # crops are resized to this side before the mesh runs
CROP_MARGIN = 0.6         # context around a detection box, as a fraction of its size
MIN_FACE_PIXELS = 24      # smaller detections cannot carry a meaningful mesh
DETECTION_CONFIDENCE = 0.5
BIG_FACE = 0.2            # a face this large (fraction of the short side) means a selfie: no tiling
TILE_MIN = 320            # smallest detection tile side in pixels
VIEW_SHIFT = 0.03         # each extra view's crop moves this fraction of the face box, on both axes
VIEW_SCALE = 0.05         # and is this fraction larger or smaller
SAME_FACE = 0.5           # box IoU a view's mesh needs with the first view's to count as the same face


class NoFaceFound(ValueError):
    """No face could be found in the photo."""

    code = "no_face"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def area(self) -> float:
        return self.width * self.height

    def overlap(self, other: "Box") -> float:
        """Area of the intersection."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        return max(0.0, right - left) * max(0.0, bottom - top)

    def iou(self, other: "Box") -> float:
        overlap = self.overlap(other)
        union = self.area + other.area - overlap
        return overlap / union if union > 0 else 0.0

    def contains_centre(self, other: "Box") -> bool:
        cx, cy = other.x + other.width / 2, other.y + other.height / 2
        return self.x <= cx <= self.x + self.width and self.y <= cy <= self.y + self.height

    def as_list(self) -> list[int]:
        return [round(self.x), round(self.y), round(self.width), round(self.height)]


@dataclass(frozen=True)
class Face:
    """One face: ``landmarks`` is float32 ``(478, 2)`` of (x, y) pixels in the full photo."""

    landmarks: np.ndarray
    box: Box
    score: float

    @property
    def eye_distance(self) -> float:
        """Distance between the outer eye corners: the unit for blur radii and offsets."""
        left, right = (self.landmarks[OUTER_EYE_CORNER[side]] for side in ("left", "right"))
        return float(np.linalg.norm(left - right))


class FaceLandmarker:
    """Finds faces; MediaPipe graphs are not thread-safe, so each thread gets its own."""

    def __init__(self, max_faces: int = 8, views: int = 2):
        if views < 1:
            raise ValueError(f"views must be at least 1, not {views}")
        self.max_faces = max_faces
        self.views = crop_views(views)
        self._local = threading.local()

    def detect(self, image: Image.Image | np.ndarray) -> list[Face]:
        """All faces in an RGB image (PIL, or uint8 ``(h, w, 3)``), largest first.  :raise NoFaceFound:"""
        pixels = image if isinstance(image, np.ndarray) else np.asarray(image.convert("RGB"))
        boxes = self._boxes(pixels)
        faces: list[Face] = []
        for face in (self._averaged_mesh(pixels, box) for box in boxes):
            if face is not None and all(face.box.iou(other.box) < 0.5 for other in faces):
                faces.append(face)
        if not faces:
            raise NoFaceFound("No face was found in the photo. Use a well-lit, front-facing photo.")
        faces.sort(key=lambda face: face.box.area, reverse=True)
        return faces[: self.max_faces]

    def _graphs(self):
        graphs = getattr(self._local, "graphs", None)
        if graphs is None:
            graphs = (
                mp_detection.FaceDetection(model_selection=1, min_detection_confidence=DETECTION_CONFIDENCE),
                mp_detection.FaceDetection(model_selection=0, min_detection_confidence=DETECTION_CONFIDENCE),
                mp_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                 min_detection_confidence=DETECTION_CONFIDENCE),
            )
            self._local.graphs = graphs
        return graphs

    def face_boxes(self, image: Image.Image | np.ndarray, small_faces: bool = True) -> list[Box]:
        """The boxes of the faces in an RGB image, without their meshes (cheaper); may be empty.

        ``small_faces=False`` skips the tiles that find faces a few percent of the photo wide (3-5x faster).
        """
        pixels = image if isinstance(image, np.ndarray) else np.asarray(image.convert("RGB"))
        return self._detected_boxes(pixels, small_faces)

    def _boxes(self, pixels: np.ndarray) -> list[Box]:
        kept = self._detected_boxes(pixels)
        if not kept:  # a face filling the frame can escape both detectors; let the mesh look itself
            kept.append(Box(0, 0, pixels.shape[1], pixels.shape[0]))
        return kept

    def _detected_boxes(self, pixels: np.ndarray, small_faces: bool = True) -> list[Box]:
        """Face boxes from both detectors on the whole photo, then on tiles when no big face showed.

        The detectors see a 128/192 px version of their input, so in a group photo a face 5% wide
        shrinks to a few pixels; tiles give such faces back enough pixels. A selfie (one big face)
        skips the tiles and stays fast.
        """
        height, width = pixels.shape[:2]
        found = self._detect(pixels, (0, 0), detectors=self._graphs()[:2])
        big_face = any(min(box.width, box.height) >= BIG_FACE * min(height, width) for _, box in found)
        if small_faces and not big_face:
            tile = max(TILE_MIN, min(height, width) // 2)
            stride = int(tile * 0.75)
            if max(height, width) > tile:
                for top in range(0, max(height - tile, 0) + stride, stride):
                    for left in range(0, max(width - tile, 0) + stride, stride):
                        window = pixels[top:top + tile, left:left + tile]
                        found += self._detect(window, (left, top), detectors=self._graphs()[:1])
        found.sort(key=lambda item: item[0], reverse=True)
        kept: list[Box] = []
        for _, box in found:
            if all(box.iou(other) < 0.3 and not other.contains_centre(box) for other in kept):
                kept.append(box)
        return kept

    @staticmethod
    def _detect(pixels: np.ndarray, offset: tuple[int, int], detectors) -> list[tuple[float, Box]]:
        height, width = pixels.shape[:2]
        found = []
        for detector in detectors:
            for detection in detector.process(np.ascontiguousarray(pixels)).detections or []:
                rel = detection.location_data.relative_bounding_box
                box = Box(offset[0] + rel.xmin * width, offset[1] + rel.ymin * height,
                          rel.width * width, rel.height * height)
                if min(box.width, box.height) >= MIN_FACE_PIXELS:
                    found.append((float(detection.score[0]), box))
        return found

    def _averaged_mesh(self, pixels: np.ndarray, box: Box) -> Face | None:
        """The mean of the meshes found in each view's crop of one face (see the module's docstring)."""
        meshes: list[Face] = []
        for shift_x, shift_y, scale in self.views:
            width, height = box.width * scale, box.height * scale
            view = Box(box.x + (box.width - width) / 2 + shift_x * box.width,
                       box.y + (box.height - height) / 2 + shift_y * box.height, width, height)
            mesh = self._mesh_in(pixels, view)
            if mesh is not None and (not meshes or mesh.box.iou(meshes[0].box) >= SAME_FACE):
                meshes.append(mesh)
        if len(meshes) <= 1:
            return meshes[0] if meshes else None
        return face_from_landmarks(np.mean([mesh.landmarks for mesh in meshes], axis=0, dtype=np.float32))

    def _mesh_in(self, pixels: np.ndarray, box: Box) -> Face | None:
        height, width = pixels.shape[:2]
        side = max(box.width, box.height) * (1 + 2 * CROP_MARGIN)
        centre_x, centre_y = box.x + box.width / 2, box.y + box.height / 2
        left = int(max(0, round(centre_x - side / 2)))
        top = int(max(0, round(centre_y - side / 2)))
        right = int(min(width, round(centre_x + side / 2)))
        bottom = int(min(height, round(centre_y + side / 2)))
        if right - left < MIN_FACE_PIXELS or bottom - top < MIN_FACE_PIXELS:
            return None
        crop = pixels[top:bottom, left:right]
        scale = MESH_INPUT / max(crop.shape[:2])
        resized = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        result = self._graphs()[2].process(resized)
        if not result.multi_face_landmarks:
            return None
        points = result.multi_face_landmarks[0].landmark
        # Normalised to the crop: scaled back to its own pixels, then moved to where it sits in the photo.
        landmarks = np.array([(p.x, p.y) for p in points], dtype=np.float32)
        landmarks *= np.array([crop.shape[1], crop.shape[0]], np.float32)
        landmarks += np.array([left, top], np.float32)
        return face_from_landmarks(landmarks)


def face_from_landmarks(landmarks: np.ndarray) -> Face:
    """A face boxed by its own mesh: tighter than the detector's box, and the same for every view."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    return Face(landmarks=landmarks, box=Box(float(low[0]), float(low[1]), float(high[0] - low[0]),
                                             float(high[1] - low[1])), score=1.0)


def crop_views(count: int) -> list[tuple[float, float, float]]:
    """(shift x, shift y, scale) of each crop the mesh sees, relative to the face box.

    An odd count includes the detector's box itself; the others sit on a ring around it in opposite pairs,
    alternately larger and smaller, so that the mean crop is always the detector's box.
    """
    ring = count - count % 2
    views = [(0.0, 0.0, 1.0)] if count % 2 else []
    for index in range(ring):
        angle = math.pi / 4 + 2 * math.pi * index / ring
        views.append((VIEW_SHIFT * math.sqrt(2) * math.cos(angle), VIEW_SHIFT * math.sqrt(2) * math.sin(angle),
                      1 + VIEW_SCALE * (1 if index % 2 == 0 else -1)))
    return views
