"""Faces are found on real photos and on harder versions of them; regions are named once."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import astronaut, grace_hopper, group_photo
from vision.face import FaceLandmarker, NoFaceFound, crop_views
from vision.regions import index_sets, polygon


def darker(image: Image.Image, factor: float = 0.35) -> Image.Image:
    return Image.fromarray((np.asarray(image, np.float32) * factor).astype(np.uint8))


VARIANTS = {
    "astronaut": astronaut,
    "grace_hopper": grace_hopper,
    "rotated_30": lambda: astronaut().rotate(30, expand=True, fillcolor=(128, 128, 128)),
    "rotated_minus_30": lambda: grace_hopper().rotate(-30, expand=True),
    "scaled_25_percent": lambda: astronaut().resize((128, 128), Image.Resampling.LANCZOS),
    "grace_scaled_25_percent": lambda: grace_hopper().resize((128, 150), Image.Resampling.LANCZOS),
    "darkened": lambda: darker(astronaut()),
    "mirrored": lambda: grace_hopper().transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_face_is_found(landmarker, name):
    image = VARIANTS[name]()
    faces = landmarker.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (478, 2) and face.landmarks.dtype == np.float32
    inside = (face.landmarks >= 0).all() and (face.landmarks[:, 0] <= image.width).all()
    assert inside and face.eye_distance > 5


def test_several_faces_in_a_group_photo(landmarker):
    faces = landmarker.detect(group_photo())
    assert len(faces) == 3
    assert [f.box.area for f in faces] == sorted((f.box.area for f in faces), reverse=True)
    centres = sorted(f.box.x + f.box.width / 2 for f in faces)
    assert centres[0] < 400 and 600 < centres[1] < 900 and centres[2] > 1200


def test_landmarks_land_on_the_face(landmarker):
    face = landmarker.detect(astronaut())[0]
    # In the astronaut photo the mouth is around (224, 146) and the eyes around y = 103.
    mouth = polygon(face.landmarks, "lips_outer").mean(axis=0)
    assert abs(mouth[0] - 224) < 10 and abs(mouth[1] - 146) < 10
    for side in ("left", "right"):
        assert abs(polygon(face.landmarks, f"{side}_eye").mean(axis=0)[1] - 103) < 10
    # Image-side naming: the "left" eye is on the left of the picture.
    assert polygon(face.landmarks, "left_eye").mean(axis=0)[0] < polygon(face.landmarks, "right_eye").mean(axis=0)[0]


@pytest.mark.parametrize("image", [Image.new("RGB", (640, 480), (120, 130, 140)),
                                   Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3),
                                                                                     dtype=np.uint8))],
                         ids=["blank", "noise"])
def test_no_face(landmarker, image):
    with pytest.raises(NoFaceFound):
        landmarker.detect(image)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_crop_views_are_distinct_and_centre_on_the_detector_box(count):
    views = np.array(crop_views(count))
    assert views.shape == (count, 3) and len({tuple(view) for view in views.round(6)}) == count
    assert np.allclose(views[:, :2].mean(axis=0), 0) and views[:, 2].mean() == pytest.approx(1)
    assert (count % 2 == 1) == any(tuple(view) == (0.0, 0.0, 1.0) for view in views)


def test_fewer_than_one_view_is_refused():
    with pytest.raises(ValueError, match="views"):
        FaceLandmarker(views=0)


def test_averaged_views_hold_the_lips_still_when_the_photo_moves():
    """A photo moved by a few pixels should move its landmarks by as much and no more. One crop's mesh wanders
    around that by a fraction of a pixel; the mean of two crops wanders less (measured here over 16 shifts:
    std of the lip points 0.21 -> 0.12 px on the astronaut, 0.36 -> 0.26 px on Grace Hopper)."""
    photos = [astronaut().resize((720, 720), Image.Resampling.LANCZOS),
              grace_hopper().resize((600, 700), Image.Resampling.LANCZOS)]
    sets = index_sets()
    lips = list(sets["lips_outer"] + sets["mouth_opening"])
    shifts = [(0, 0), *np.random.default_rng(1).integers(0, 25, (15, 2)).tolist()]

    def wander(landmarker: FaceLandmarker) -> float:
        total = 0.0
        for pixels in map(np.asarray, photos):
            placed = [landmarker.detect(np.pad(pixels, ((down, 25 - down), (across, 25 - across), (0, 0)),
                                               mode="edge"))[0].landmarks[lips] - (across, down)
                      for across, down in shifts]
            total += float(np.std(placed, axis=0).mean())
        return total

    one, two = wander(FaceLandmarker(views=1)), wander(FaceLandmarker(views=2))
    print(f"lip points' wander (sum over two faces): one view {one:.3f} px, two views {two:.3f} px")
    assert two < 0.85 * one, (one, two)


def test_region_sets_come_from_mediapipe_connections():
    sets = index_sets()
    assert set(sets["lips_outer"]) >= {61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 0, 409}
    assert set(sets["mouth_opening"]) >= {78, 95, 88, 178, 87, 14, 317, 308, 191, 80, 13, 415}
    assert sets["left_upper_lid"] == (33, 246, 161, 160, 159, 158, 157, 173, 133)
    assert sets["right_upper_lid"] == (263, 466, 388, 387, 386, 385, 384, 398, 362)
    assert set(sets["left_iris"]) == {469, 470, 471, 472} and set(sets["right_iris"]) == {474, 475, 476, 477}
    assert len(sets["face_oval"]) == 36
