//! L-BFGS against PyTorch's `torch.optim.LBFGS`, step by step: the same problems, settings
//! and start, the iterate after every `step()` within 1e-4 relative. Golden values:
//! tests/golden/make_golden.py (float64).

use faststyle::lbfgs::{Lbfgs, LbfgsConfig, LineSearch};
use faststyle_suite::{golden, read_tensors, rel_err};
use std::collections::HashMap;
use tch::{Kind, Tensor};

const TOL: f64 = 1e-4;

/// `0.5 |A x - b|² + 0.1 Σ x⁴` (A: 8×6, b: 8, from the golden file).
fn quartic(g: &HashMap<String, Tensor>, x: &Tensor) -> Tensor {
    (g["A"].mv(x) - &g["b"]).square().sum(Kind::Double) * 0.5 + x.pow_tensor_scalar(4).sum(Kind::Double) * 0.1
}

/// The extended Rosenbrock function on pairs `(x[2i], x[2i+1])`.
fn rosenbrock(x: &Tensor) -> Tensor {
    let (odd, even) = (x.slice(0, 1, None, 2), x.slice(0, 0, None, 2));
    ((odd - even.square()).square() * 100.0 + (-&even + 1.0).square()).sum(Kind::Double)
}

/// Runs `steps` L-BFGS steps from the golden start and checks every iterate and loss.
fn check(name: &str, steps: usize, cfg: LbfgsConfig, f: impl Fn(&Tensor) -> Tensor) {
    let g = read_tensors(&golden("lbfgs.safetensors"));
    let x = g["x0"].copy().set_requires_grad(true);
    let mut opt = Lbfgs::new(&x, cfg);
    let mut objective = || -> faststyle::Result<f64> {
        let loss = f(&x);
        loss.backward();
        Ok(f64::try_from(&loss)?)
    };
    let (want_x, want_loss) = (&g[&format!("{name}_x")], Vec::<f64>::try_from(&g[&format!("{name}_loss")]).unwrap());
    assert_eq!(want_loss.len(), steps);
    for (k, want) in want_loss.iter().enumerate() {
        let loss = opt.step(&mut objective).unwrap();
        let e = rel_err(&x.detach(), &want_x.get(k as i64));
        assert!(e < TOL, "{name}: iterate after step {}: relative error {e:e}", k + 1);
        assert!((loss - want).abs() <= TOL * want.abs(), "{name} step {}: loss {loss} vs {want}", k + 1);
    }
}

#[test]
fn fixed_steps_match_pytorch() {
    let g = read_tensors(&golden("lbfgs.safetensors"));
    let cfg = LbfgsConfig { max_iter: 5, history_size: 3, ..Default::default() };
    check("quartic", 4, cfg, |x| quartic(&g, x));
}

/// jcjohnson/neural-style's use: one step of N iterations, tolerances off.
#[test]
fn a_neural_style_run_matches_pytorch() {
    let g = read_tensors(&golden("lbfgs.safetensors"));
    let cfg = LbfgsConfig { max_iter: 30, tolerance_grad: -1.0, tolerance_change: -1.0, ..Default::default() };
    check("neural_style", 1, cfg, |x| quartic(&g, x));
}

#[test]
fn strong_wolfe_matches_pytorch() {
    let cfg = LbfgsConfig { max_iter: 5, history_size: 3, line_search: LineSearch::StrongWolfe, ..Default::default() };
    check("rosenbrock", 4, cfg, rosenbrock);
}
