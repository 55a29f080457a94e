//! Face finding and framing on real and synthetic pictures: the committed portrait (NASA,
//! public domain) and the camera simulator's scenes drawn from it.

use camera::Resolution;
use camera::image::RgbImage;
use camera::quality::QualityIssue;
use camera::sim::Scene;
use camera::sim::scene::{PORTRAIT_FACE, portrait};
use telekiosk_face::{
    AnalysisConfig, DetectorConfig, FaceBox, FaceDetector, FrameAnalysis, Framing, Guidance, Move,
    analyse,
};

const VGA: Resolution = Resolution {
    width: 640,
    height: 480,
};

fn detector() -> FaceDetector {
    FaceDetector::new(DetectorConfig::default()).expect("the compiled-in model reads")
}

fn analysed(image: &RgbImage) -> FrameAnalysis {
    analyse(image, &detector(), &AnalysisConfig::default())
}

fn scene(scene: Scene, n: u64) -> FrameAnalysis {
    analysed(&scene.frame(&portrait(), VGA, n))
}

fn portrait_face() -> FaceBox {
    let [x, y, width, height] = PORTRAIT_FACE;
    FaceBox {
        x: i32::try_from(x).expect("small"),
        y: i32::try_from(y).expect("small"),
        width,
        height,
    }
}

#[test]
fn the_portrait_has_one_centred_face_of_good_size() {
    let faces = detector().detect(&portrait());
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(faces[0].bbox.iou(&portrait_face()) > 0.8, "{faces:?}");
    assert!(faces[0].score > 15.0, "{faces:?}");
    let a = analysed(&portrait());
    assert_eq!(a.framing, Framing::Ok);
    assert_eq!(a.guidance, Guidance::HoldStill);
    assert!(a.face_sharpness.is_some_and(|s| s > 0.0));
}

#[test]
fn the_same_face_is_found_at_other_camera_sizes() {
    for (w, h) in [(320, 240), (1280, 960)] {
        let img = Scene::LiveCustomer.frame(
            &portrait(),
            Resolution {
                width: w,
                height: h,
            },
            0,
        );
        let a = analysed(&img);
        assert_eq!(a.framing, Framing::Ok, "{w}x{h}: {:?}", a.faces);
        let expected = portrait_face().scaled(f64::from(w) / 640.0);
        assert!(
            a.faces[0].bbox.iou(&expected) > 0.7,
            "{w}x{h}: {:?}",
            a.faces
        );
    }
}

#[test]
fn the_camera_test_pattern_has_no_face() {
    // Its cartoon face (an oval with dots for eyes) is not a face to send for comparison.
    for n in (0..120).step_by(10) {
        let img = camera::sim::test_pattern(VGA, n);
        let faces = detector().detect(&img);
        assert!(faces.is_empty(), "frame {n}: {faces:?}");
    }
}

#[test]
fn nobody_is_no_face() {
    let a = scene(Scene::Nobody, 0);
    assert!(a.faces.is_empty());
    assert_eq!(a.guidance, Guidance::NoFace);
}

#[test]
fn two_faces_side_by_side_are_several() {
    let a = scene(Scene::TwoPeople, 0);
    assert_eq!(
        a.framing,
        Framing::SeveralFaces { count: 2 },
        "{:?}",
        a.faces
    );
    assert_eq!(a.guidance, Guidance::SeveralFaces);
    assert_eq!(a.guidance.message_zh(), "只允许一人入镜，请其他人离开画面");
}

#[test]
fn a_small_face_is_too_far() {
    let a = scene(Scene::TooFar, 0);
    assert_eq!(a.faces.len(), 1, "found, but small: {:?}", a.faces);
    assert_eq!(a.framing, Framing::TooFar);
    assert_eq!(a.guidance.message_zh(), "请靠近一点");
}

#[test]
fn an_off_centre_face_says_which_way() {
    // The face is in the left of the camera's picture: the customer's right.
    let a = scene(Scene::OffCentre, 0);
    assert_eq!(
        a.framing,
        Framing::OffCentre {
            direction: Move::Left
        },
        "{:?}",
        a.faces
    );
    assert_eq!(a.guidance.message_zh(), "请向左移一点");
    assert_eq!(a.guidance.message_en(), "Please move a little to your left");
}

#[test]
fn a_dark_frame_is_dark_before_anything_else() {
    let a = scene(Scene::TooDark, 0);
    assert!(a.quality.issues.contains(&QualityIssue::TooDark));
    assert_eq!(
        a.guidance,
        Guidance::Photo {
            issue: QualityIssue::TooDark
        }
    );
    assert_eq!(a.guidance.message_zh(), "光线太暗，请靠近一点或到亮处");
}

#[test]
fn the_simulated_turned_head_is_not_a_frontal_face() {
    // Frames 8–11 of the live customer: the head turned by 70°.
    for n in 8..12 {
        let a = scene(Scene::LiveCustomer, n);
        assert!(a.faces.is_empty(), "frame {n}: {:?}", a.faces);
    }
    // … and it looks at the camera again.
    assert_eq!(scene(Scene::LiveCustomer, 14).framing, Framing::Ok);
}
