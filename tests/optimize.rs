//! `trainer optimize` through the binary: two blended styles, two scales with their own
//! iteration counts and gradient checkpointing, intermediate images, and each bad input refused with the file or flag named and nothing written.

use faststyle_suite::run_bin;
use faststyle_suite::train_fixture::TrainFixture;

/// `trainer optimize` with the fixture's random VGG16 (relu2_2) loss, on the CPU.
fn optimize(fx: &TrainFixture, extra: &[&str]) -> faststyle_suite::Ran {
    let p = |rel: &str| fx.path(rel).to_string_lossy().into_owned();
    let mut args: Vec<String> =
        ["optimize", "--vgg", &p("vgg.safetensors"), "--vgg-arch", "vgg16"].iter().map(|s| s.to_string()).collect();
    args.extend(
        ["--content-layers", "relu2_2", "--style-layers", "relu1_2,relu2_2", "--device", "cpu"].map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    run_bin("trainer", &args)
}

#[test]
fn blended_styles_at_two_scales_with_intermediate_images() {
    let fx = TrainFixture::new();
    let (content, style) = (fx.path("data/a/scene_000.jpg"), fx.path("style.png"));
    let other = fx.path("data/b/scene_001.png");
    let out = fx.path("out/result.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let ran = optimize(
        &fx,
        &[
            "--content",
            content.to_str().unwrap(),
            "--style",
            style.to_str().unwrap(),
            "--style",
            other.to_str().unwrap(),
            "--style-blend",
            "0.7,0.3",
            "--scales",
            "24,48",
            "--iterations",
            "6,4",
            "--checkpointing",
            "on",
            "--save-every",
            "3",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(ran.ok(), "{}", ran.stderr);
    assert!(ran.stderr.contains("for 10 iterations") && ran.stderr.contains("24px → 48px"), "{}", ran.stderr);
    // The content is 64×48: the longer side is 48 at the last scale.
    assert_eq!(image::open(&out).unwrap().to_rgb8().dimensions(), (48, 36));
    // 6 iterations at 24 px, then 4 at 48 px.
    for name in ["result_24px_00003.png", "result_24px_00006.png", "result_48px_00003.png"] {
        assert!(fx.path("out").join(name).is_file(), "{name} missing");
    }
    assert!(!fx.path("out/result_48px_00006.png").exists(), "48 px ran 4 iterations, not 6");
}

#[test]
fn bad_inputs_are_refused_naming_the_file_or_flag() {
    let fx = TrainFixture::new();
    let (content, style) = (fx.path("data/a/scene_000.jpg"), fx.path("style.png"));
    let out = fx.path("never.png");
    let (c, s, o) = (content.to_str().unwrap(), style.to_str().unwrap(), out.to_str().unwrap());
    let cases: [(&[&str], &str); 7] = [
        (&["--content", "/nope/photo.jpg", "--style", s, "--output", o], "/nope/photo.jpg"),
        (&["--content", c, "--style", "/nope/style.jpg", "--output", o], "/nope/style.jpg"),
        (
            &["--content", c, "--style", s, "--style-blend", "0.5,0.5", "--output", o],
            "--style-blend has 2 weight(s) for 1",
        ),
        (&["--content", c, "--style", s, "--style-blend", "0", "--output", o], "not all 0"),
        (&["--content", c, "--style", s, "--image-size", "0", "--output", o], "--image-size"),
        (&["--content", c, "--output", o], "no style image"),
        (
            &["--content", c, "--style", s, "--scales", "24,48", "--iterations", "1,2,3", "--output", o],
            "--iterations has",
        ),
    ];
    for (args, needle) in cases {
        let ran = optimize(&fx, &[args, &["--iterations", "2"]].concat());
        assert!(!ran.ok() && ran.stderr.contains(needle), "{args:?}: {}", ran.stderr);
        assert!(!out.exists(), "{args:?} left an output");
    }
}
