//! L-BFGS (Liu & Nocedal 1989, "On the limited memory BFGS method for large scale
//! optimization") over one tensor, with the semantics of PyTorch's `torch.optim.LBFGS`
//! (itself after Schmidt's minFunc), so that a run here and a run there take the same steps:
//!
//! - one [`Lbfgs::step`] is PyTorch's `optimizer.step(closure)`: up to `max_iter` iterations
//!   and `max_eval` function evaluations, ending early on the same tolerances;
//! - the search direction is the two-loop recursion over the last `history_size` pairs
//!   `(s, y)`, a pair kept only when `yᵀs > 1e-10`, with the initial inverse Hessian
//!   `H₀ = yᵀs / yᵀy` of the newest pair;
//! - the first step length is `min(1, 1/‖g‖₁) · lr`, later ones `lr`; without a line search
//!   the step is taken as is (jcjohnson/neural-style's setting), with
//!   [`LineSearch::StrongWolfe`] it is chosen by PyTorch's `_strong_wolfe` (cubic
//!   interpolation, c₁ = 1e-4, c₂ = 0.9).
//!
//! Gatys et al.'s method (2016) uses it on the pixels of an image; neural-style runs one
//! `step` with `max_iter` = the iteration count and the tolerances disabled (set to -1).

use crate::error::{Error, Result};
use std::collections::VecDeque;
use tch::Tensor;

/// How the step length is chosen. Written `none` / `strong-wolfe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::Display, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "kebab-case", ascii_case_insensitive)]
pub enum LineSearch {
    /// Take the step `t` as is (PyTorch's `line_search_fn=None`): one evaluation per
    /// iteration; the loss may rise now and then.
    #[default]
    None,
    /// PyTorch's `line_search_fn="strong_wolfe"`: each iteration's step satisfies the strong
    /// Wolfe conditions, so the loss falls at every iteration (at a few evaluations each).
    StrongWolfe,
}

/// Settings of [`Lbfgs`]; the defaults are PyTorch's.
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsConfig {
    /// Step length factor. Default 1.
    pub lr: f64,
    /// Iterations per [`Lbfgs::step`]. Default 20.
    pub max_iter: usize,
    /// Function evaluations per step; `None` is `max_iter · 5 / 4`. Default `None`.
    pub max_eval: Option<usize>,
    /// Stop when the largest gradient component is at most this. Default 1e-7 (-1: never).
    pub tolerance_grad: f64,
    /// Stop when the step, or the change of the loss, is below this. Default 1e-9 (-1: never).
    pub tolerance_change: f64,
    /// Pairs `(s, y)` kept. Default 100.
    pub history_size: usize,
    /// Default [`LineSearch::None`].
    pub line_search: LineSearch,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search: LineSearch::None,
        }
    }
}

/// The objective: evaluates the loss at the optimised tensor's current value and leaves its
/// gradient in the tensor's `.grad()` (by calling `backward`); returns the loss. Its error
/// type `E` is the caller's (any type a faststyle [`crate::Error`] converts into), and
/// [`Lbfgs::step`] returns its errors unchanged.
pub type Objective<'a, E> = dyn FnMut() -> std::result::Result<f64, E> + 'a;

/// An L-BFGS optimiser of one leaf tensor (`requires_grad`), keeping its memory between
/// [`Lbfgs::step`] calls as PyTorch does.
#[derive(Debug)]
pub struct Lbfgs {
    x: Tensor,
    cfg: LbfgsConfig,
    /// Iterations in all steps so far.
    n_iter: usize,
    /// Function evaluations in all steps so far.
    func_evals: usize,
    d: Option<Tensor>,
    t: f64,
    old_dirs: VecDeque<Tensor>,
    old_stps: VecDeque<Tensor>,
    ro: VecDeque<f64>,
    h_diag: f64,
    prev_flat_grad: Option<Tensor>,
    prev_loss: f64,
}

impl Lbfgs {
    /// An optimiser of `x` (a leaf tensor with `requires_grad`; it is updated in place).
    pub fn new(x: &Tensor, cfg: LbfgsConfig) -> Self {
        Lbfgs {
            x: x.shallow_clone(),
            cfg,
            n_iter: 0,
            func_evals: 0,
            d: None,
            t: 0.0,
            old_dirs: VecDeque::new(),
            old_stps: VecDeque::new(),
            ro: VecDeque::new(),
            h_diag: 1.0,
            prev_flat_grad: None,
            prev_loss: 0.0,
        }
    }

    /// Iterations taken in all steps so far.
    pub fn iterations(&self) -> usize {
        self.n_iter
    }

    /// Function evaluations in all steps so far.
    pub fn evaluations(&self) -> usize {
        self.func_evals
    }

    /// The loss and a copy of the flat gradient at the current `x` (gradient zeroed first).
    fn evaluate<E: From<Error>>(&mut self, f: &mut Objective<'_, E>) -> std::result::Result<(f64, Tensor), E> {
        let mut grad = self.x.grad();
        if grad.defined() {
            let _ = grad.zero_();
        }
        let loss = f()?;
        self.func_evals += 1;
        let grad = self.x.grad();
        let flat = if grad.defined() { grad.detach().reshape([-1]).copy() } else { self.x.zeros_like().reshape([-1]) };
        Ok((loss, flat))
    }

    /// `x += t · d` without recording gradients.
    fn add_step(&self, t: f64, d: &Tensor) {
        tch::no_grad(|| {
            let mut x = self.x.shallow_clone();
            let _ = x.g_add_(&(d.view_as(&self.x) * t));
        });
    }

    /// The L-BFGS direction for gradient `g` (two-loop recursion), after storing the newest
    /// pair `(s, y)` when it has positive curvature. The first iteration is steepest descent.
    fn direction(&mut self, g: &Tensor) -> Result<Tensor> {
        if self.n_iter == 1 {
            self.old_dirs.clear();
            self.old_stps.clear();
            self.ro.clear();
            self.h_diag = 1.0;
            return Ok(g.neg());
        }
        let prev = self.prev_flat_grad.as_ref().expect("set after the first iteration");
        let y = g - prev;
        let s = self.d.as_ref().expect("set after the first iteration") * self.t;
        let ys = f64::try_from(y.dot(&s))?;
        if ys > 1e-10 {
            if self.old_dirs.len() == self.cfg.history_size {
                self.old_dirs.pop_front();
                self.old_stps.pop_front();
                self.ro.pop_front();
            }
            self.h_diag = ys / f64::try_from(y.dot(&y))?;
            self.old_dirs.push_back(y);
            self.old_stps.push_back(s);
            self.ro.push_back(1.0 / ys);
        }
        let n = self.old_dirs.len();
        let mut al = vec![0.0; n];
        let mut q = g.neg();
        for i in (0..n).rev() {
            al[i] = f64::try_from(self.old_stps[i].dot(&q))? * self.ro[i];
            q -= &self.old_dirs[i] * al[i];
        }
        let mut r = q * self.h_diag;
        for (i, a) in al.iter().enumerate() {
            let be = f64::try_from(self.old_dirs[i].dot(&r))? * self.ro[i];
            r += &self.old_stps[i] * (a - be);
        }
        Ok(r)
    }

    /// One `optimizer.step(closure)` of PyTorch: evaluates `f`, then iterates until
    /// `max_iter` iterations or `max_eval` evaluations are done or a tolerance is met.
    /// Returns the loss at the start of the step.
    ///
    /// # Errors
    /// Whatever `f` returns, unchanged; a libtorch failure, converted into `E`.
    pub fn step<E: From<Error>>(&mut self, f: &mut Objective<'_, E>) -> std::result::Result<f64, E> {
        let cfg = self.cfg.clone();
        let max_eval = cfg.max_eval.unwrap_or(cfg.max_iter * 5 / 4);
        let (orig_loss, mut g) = self.evaluate(f)?;
        let mut loss = orig_loss;
        let mut current_evals = 1;
        if abs_max(&g)? <= cfg.tolerance_grad {
            return Ok(orig_loss);
        }
        let mut n_iter = 0;
        while n_iter < cfg.max_iter {
            n_iter += 1;
            self.n_iter += 1;
            let d = self.direction(&g)?;
            self.prev_flat_grad = Some(g.copy());
            self.prev_loss = loss;
            let mut t =
                if self.n_iter == 1 { (1.0f64).min(1.0 / scalar(&g.abs().sum(g.kind()))?) * cfg.lr } else { cfg.lr };
            let gtd = scalar(&g.dot(&d))?;
            if gtd > -cfg.tolerance_change {
                self.d = Some(d);
                self.t = t;
                break;
            }
            let mut ls_evals = 0;
            let mut opt_cond = false;
            match cfg.line_search {
                LineSearch::StrongWolfe => {
                    let x0 = self.x.detach().copy();
                    let found = self.strong_wolfe(f, &x0, t, &d, loss, &g, gtd, max_eval - current_evals)?;
                    (loss, g, t, ls_evals) = found;
                    self.add_step(t, &d);
                    opt_cond = abs_max(&g)? <= cfg.tolerance_grad;
                }
                LineSearch::None => {
                    self.add_step(t, &d);
                    if n_iter != cfg.max_iter {
                        (loss, g) = self.evaluate(f)?;
                        opt_cond = abs_max(&g)? <= cfg.tolerance_grad;
                        ls_evals = 1;
                    }
                }
            }
            current_evals += ls_evals;
            let small_step = abs_max(&(&d * t))? <= cfg.tolerance_change;
            self.d = Some(d);
            self.t = t;
            if n_iter == cfg.max_iter || current_evals >= max_eval || opt_cond || small_step {
                break;
            }
            if (loss - self.prev_loss).abs() < cfg.tolerance_change {
                break;
            }
        }
        Ok(orig_loss)
    }

    /// Loss and flat gradient at `x0 + t·d`; `x` is put back to `x0` afterwards.
    fn directional<E: From<Error>>(
        &mut self,
        f: &mut Objective<'_, E>,
        x0: &Tensor,
        t: f64,
        d: &Tensor,
    ) -> std::result::Result<(f64, Tensor), E> {
        self.add_step(t, d);
        let out = self.evaluate(f)?;
        tch::no_grad(|| {
            let mut x = self.x.shallow_clone();
            x.copy_(x0);
        });
        Ok(out)
    }

    /// PyTorch's `_strong_wolfe` (c₁ = 1e-4, c₂ = 0.9, tolerance_change 1e-9): returns the
    /// loss and gradient at the chosen step, the step, and the evaluations spent.
    #[allow(clippy::too_many_arguments)]
    fn strong_wolfe<E: From<Error>>(
        &mut self,
        f: &mut Objective<'_, E>,
        x0: &Tensor,
        mut t: f64,
        d: &Tensor,
        f0: f64,
        g0: &Tensor,
        gtd0: f64,
        max_ls: usize,
    ) -> std::result::Result<(f64, Tensor, f64, usize), E> {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        const TOLERANCE_CHANGE: f64 = 1e-9;
        let d_norm = abs_max(d)?;
        let (mut f_new, mut g_new) = self.directional(f, x0, t, d)?;
        let mut evals = 1;
        let mut gtd_new = scalar(&g_new.dot(d))?;
        let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f0, g0.copy(), gtd0);
        let mut done = false;
        let mut ls_iter = 0;
        // Bracketing phase: (step, loss, gradient, directional derivative) at each end.
        let mut bracket: Vec<(f64, f64, Tensor, f64)> = Vec::new();
        while ls_iter < max_ls {
            // In PyTorch's order: too little decrease, then the curvature condition, then an
            // uphill slope.
            let too_little_decrease = f_new > f0 + C1 * t * gtd0 || (ls_iter > 1 && f_new >= f_prev);
            if !too_little_decrease && gtd_new.abs() <= -C2 * gtd0 {
                bracket = vec![(t, f_new, g_new.copy(), gtd_new)];
                done = true;
                break;
            }
            if too_little_decrease || gtd_new >= 0.0 {
                bracket = vec![(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new.copy(), gtd_new)];
                break;
            }
            let (min_step, max_step) = (t + 0.01 * (t - t_prev), t * 10.0);
            let tmp = t;
            t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, Some((min_step, max_step)));
            (t_prev, f_prev, g_prev, gtd_prev) = (tmp, f_new, g_new.copy(), gtd_new);
            (f_new, g_new) = self.directional(f, x0, t, d)?;
            evals += 1;
            gtd_new = scalar(&g_new.dot(d))?;
            ls_iter += 1;
        }
        if ls_iter == max_ls {
            bracket = vec![(0.0, f0, g0.copy(), gtd0), (t, f_new, g_new.copy(), gtd_new)];
        }
        // Zoom phase (only when the bracket has two ends).
        let mut insuf_progress = false;
        let (mut low, mut high) = if bracket.len() < 2 || bracket[0].1 <= bracket[1].1 { (0, 1) } else { (1, 0) };
        while !done && ls_iter < max_ls {
            if (bracket[1].0 - bracket[0].0).abs() * d_norm < TOLERANCE_CHANGE {
                break;
            }
            let (b0, b1) = (&bracket[0], &bracket[1]);
            t = cubic_interpolate(b0.0, b0.1, b0.3, b1.0, b1.1, b1.3, None);
            let (lo_t, hi_t) = (b0.0.min(b1.0), b0.0.max(b1.0));
            let eps = 0.1 * (hi_t - lo_t);
            if (hi_t - t).min(t - lo_t) < eps {
                if insuf_progress || t >= hi_t || t <= lo_t {
                    t = if (t - hi_t).abs() < (t - lo_t).abs() { hi_t - eps } else { lo_t + eps };
                    insuf_progress = false;
                } else {
                    insuf_progress = true;
                }
            } else {
                insuf_progress = false;
            }
            (f_new, g_new) = self.directional(f, x0, t, d)?;
            evals += 1;
            gtd_new = scalar(&g_new.dot(d))?;
            ls_iter += 1;
            if f_new > f0 + C1 * t * gtd0 || f_new >= bracket[low].1 {
                bracket[high] = (t, f_new, g_new.copy(), gtd_new);
                (low, high) = if bracket[0].1 <= bracket[1].1 { (0, 1) } else { (1, 0) };
            } else {
                if gtd_new.abs() <= -C2 * gtd0 {
                    done = true;
                } else if gtd_new * (bracket[high].0 - bracket[low].0) >= 0.0 {
                    let (t_l, f_l, g_l, gtd_l) = &bracket[low];
                    bracket[high] = (*t_l, *f_l, g_l.copy(), *gtd_l);
                }
                bracket[low] = (t, f_new, g_new.copy(), gtd_new);
            }
        }
        let (t, f_best, g_best, _) = &bracket[low.min(bracket.len() - 1)];
        Ok((*f_best, g_best.copy(), *t, evals))
    }
}

/// The value of a one-element tensor.
fn scalar(t: &Tensor) -> Result<f64> {
    Ok(f64::try_from(t)?)
}

/// The largest absolute component of `t`.
fn abs_max(t: &Tensor) -> Result<f64> {
    scalar(&t.abs().max())
}

/// The minimiser of the cubic through `(x1, f1)` and `(x2, f2)` with slopes `g1`, `g2`,
/// clamped to `bounds` (default: between the two points); their midpoint when the cubic has
/// no minimum (PyTorch's `_cubic_interpolate`).
fn cubic_interpolate(x1: f64, f1: f64, g1: f64, x2: f64, f2: f64, g2: f64, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// On a convex quadratic ½xᵀAx − bᵀx, L-BFGS with a strong-Wolfe search reaches the
    /// solution of Ax = b (checked against the direct solve).
    #[test]
    fn solves_a_quadratic() {
        let a = Tensor::from_slice(&[4.0f64, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 2.0]).view([3, 3]);
        let b = Tensor::from_slice(&[1.0f64, -2.0, 3.0]);
        let x = Tensor::zeros([3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let cfg = LbfgsConfig { line_search: LineSearch::StrongWolfe, ..Default::default() };
        let mut opt = Lbfgs::new(&x, cfg);
        let mut f = || -> Result<f64> {
            let loss = (x.dot(&a.mv(&x)) * 0.5) - b.dot(&x);
            loss.backward();
            Ok(f64::try_from(&loss)?)
        };
        opt.step(&mut f).unwrap();
        let exact = a.inverse().mv(&b);
        // It stops on PyTorch's tolerance on the loss change (1e-9), a few 1e-6 from x*.
        let err = f64::try_from((x.detach() - &exact).abs().max()).unwrap();
        assert!(err < 1e-4, "{err}");
    }

    #[test]
    fn cubic_interpolation_finds_a_cubics_minimum() {
        // f(x) = (x − 1)², slopes 2(x − 1): the interpolant is the parabola itself.
        let m = cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, None);
        assert!((m - 1.0).abs() < 1e-12, "{m}");
        assert_eq!(cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, Some((2.0, 3.0))), 2.0);
    }
}
