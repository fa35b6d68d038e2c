//! Adam (Kingma & Ba 2015) over named tensors, so that its state (first and second moments
//! and the step count) can be saved in a checkpoint and training resumed exactly. tch's
//! `nn::Adam` keeps its state inside libtorch where it cannot be saved.
//!
//! The update is PyTorch's `torch.optim.Adam` (no weight decay, no amsgrad), in the same
//! order of operations, so the two agree to rounding:
//! ```text
//! m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//! denom = √v / √(1−β2^t) + ε   p ← p − (lr / (1−β1^t)) · m / denom
//! ```

use std::collections::BTreeMap;
use tch::{nn, Kind, Tensor};

/// β1 (first-moment decay). PyTorch's default, used by JJ and PE.
pub const BETA1: f64 = 0.9;
/// β2 (second-moment decay). PyTorch's default.
pub const BETA2: f64 = 0.999;
/// ε added to the denominator. PyTorch's default.
pub const EPS: f64 = 1e-8;

/// Adam over the trainable variables of a `VarStore`, keyed by variable name.
#[derive(Debug)]
pub struct Adam {
    /// `(parameter, m, v)` per variable name, sorted by name.
    state: BTreeMap<String, (Tensor, Tensor, Tensor)>,
    /// Updates applied so far (t in the formulas).
    pub step: i64,
}

impl Adam {
    /// Fresh state (zero moments) for every variable of `vs`.
    pub fn new(vs: &nn::VarStore) -> Self {
        let state = vs
            .variables()
            .into_iter()
            .filter(|(_, p)| p.requires_grad())
            .map(|(name, p)| {
                let (m, v) = (p.zeros_like(), p.zeros_like());
                (name, (p, m, v))
            })
            .collect();
        Adam { state, step: 0 }
    }

    /// Sets every gradient to zero (before a backward pass).
    pub fn zero_grad(&mut self) {
        for (p, _, _) in self.state.values_mut() {
            p.zero_grad();
        }
    }

    /// The parameters, in name order (for gradient checks).
    pub fn params(&self) -> Vec<&Tensor> {
        self.state.values().map(|s| &s.0).collect()
    }

    /// Applies one update with learning rate `lr` from the current gradients (parameters
    /// without a gradient are left alone).
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let step_size = lr / (1.0 - BETA1.powi(t));
        let bias2_sqrt = (1.0 - BETA2.powi(t)).sqrt();
        tch::no_grad(|| {
            for (p, m, v) in self.state.values_mut() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                *m *= BETA1;
                *m += &g * (1.0 - BETA1);
                *v *= BETA2;
                *v += &g * &g * (1.0 - BETA2);
                let denom = v.sqrt() / bias2_sqrt + EPS;
                *p -= &*m / denom * step_size;
            }
        });
    }

    /// The state as named tensors: `m.<param>` and `v.<param>` (on the parameters' device).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.state
            .iter()
            .flat_map(|(name, (_, m, v))| {
                [(format!("m.{name}"), m.shallow_clone()), (format!("v.{name}"), v.shallow_clone())]
            })
            .collect()
    }

    /// Restores the moments from [`Adam::state_tensors`]-named tensors and the step count.
    ///
    /// # Errors
    /// The name of a moment that is missing or has the wrong shape.
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>, step: i64) -> Result<(), String> {
        for (name, (_, m, v)) in self.state.iter_mut() {
            for (prefix, dst) in [("m", m), ("v", v)] {
                let key = format!("{prefix}.{name}");
                let src = tensors.get(&key).ok_or_else(|| format!("missing optimizer tensor {key}"))?;
                if src.size() != dst.size() {
                    return Err(format!(
                        "optimizer tensor {key} has shape {:?}, expected {:?}",
                        src.size(),
                        dst.size()
                    ));
                }
                tch::no_grad(|| dst.copy_(&src.to_kind(Kind::Float)));
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;
    use tch::Device;

    /// A store with one deterministic 7×5 weight (no global RNG: tests run in parallel).
    fn store(seed: i64) -> (nn::VarStore, Tensor) {
        let vs = nn::VarStore::new(Device::Cpu);
        let init = (Tensor::arange(35, (Kind::Float, Device::Cpu)) * 0.37 + seed as f64).sin().view([7, 5]) * 2.0;
        let w = vs.root().var_copy("w", &init);
        (vs, w)
    }

    fn loss(w: &Tensor) -> Tensor {
        (w.sin() * w).sum(Kind::Float)
    }

    #[test]
    fn matches_libtorch_adam() {
        let (vs_a, w_a) = store(1);
        let (vs_b, w_b) = store(1);
        let mut ours = Adam::new(&vs_a);
        let mut theirs = nn::Adam::default().build(&vs_b, 1e-2).unwrap();
        for _ in 0..50 {
            ours.zero_grad();
            loss(&w_a).backward();
            ours.step(1e-2);
            theirs.backward_step(&loss(&w_b));
        }
        let diff = f64::try_from((&w_a - &w_b).abs().max()).unwrap();
        assert!(diff < 1e-6, "max |ours − libtorch| = {diff}");
        assert!(f64::try_from((&w_a - &store(1).1).abs().max()).unwrap() > 0.1, "the weights moved");
    }

    #[test]
    fn restoring_state_continues_identically() {
        let (vs_a, w_a) = store(2);
        let mut a = Adam::new(&vs_a);
        let (vs_b, w_b) = store(2);
        let mut b = Adam::new(&vs_b);
        for i in 0..20 {
            if i == 10 {
                // Hand b's state over, as a checkpoint would.
                let saved: BTreeMap<String, Tensor> =
                    a.state_tensors().into_iter().map(|(k, t)| (k, t.copy())).collect();
                tch::no_grad(|| w_b.shallow_clone().copy_(&w_a));
                b = Adam::new(&vs_b);
                b.restore(&saved, a.step).unwrap();
            }
            for (opt, w) in [(&mut a, &w_a), (&mut b, &w_b)] {
                opt.zero_grad();
                loss(w).backward();
                opt.step(1e-2);
            }
        }
        assert!(w_a.equal(&w_b));
        let mut bad = BTreeMap::new();
        bad.insert("m.w".to_string(), Tensor::zeros([2], (Kind::Float, Device::Cpu)));
        assert!(b.restore(&bad, 3).unwrap_err().contains("m.w"));
    }
}
