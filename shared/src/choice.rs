//! Named choices on the command line. Enums with unit variants ([`crate::VggArch`],
//! [`crate::Preprocessing`], [`crate::Precision`], [`crate::StoreDtype`]) derive their text
//! form once, with strum (`Display`, `FromStr`, `VariantNames`); serde writes the same names
//! in configs and checkpoints. [`Choice`] hands that form to clap, so `--help` and the error
//! for a bad value list the names.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::ffi::OsStr;
use std::marker::PhantomData;
use std::str::FromStr;

/// A clap value parser for an enum `T` with strum's `FromStr` and `VariantNames`:
/// `#[arg(long, value_parser = Choice::<VggArch>::new())]`. Aliases that `FromStr` accepts
/// (`f32` for `fp32`) are accepted; help and errors list the primary names.
#[derive(Debug)]
pub struct Choice<T>(PhantomData<fn() -> T>);

impl<T> Choice<T> {
    /// The parser.
    pub fn new() -> Self {
        Choice(PhantomData)
    }
}

impl<T> Default for Choice<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Choice<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> TypedValueParser for Choice<T>
where
    T: FromStr + strum::VariantNames + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|_| {
            let mut e = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            if let Some(arg) = arg {
                e.insert(ContextKind::InvalidArg, ContextValue::String(arg.to_string()));
            }
            e.insert(ContextKind::InvalidValue, ContextValue::String(text.into_owned()));
            e.insert(
                ContextKind::ValidValue,
                ContextValue::Strings(T::VARIANTS.iter().map(|s| s.to_string()).collect()),
            );
            e
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::VARIANTS.iter().map(|name| PossibleValue::new(*name))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Precision, Preprocessing, StoreDtype, VggArch};
    use clap::Parser;
    use strum::VariantNames;

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, value_parser = Choice::<VggArch>::new())]
        arch: Option<VggArch>,
        #[arg(long, value_parser = Choice::<StoreDtype>::new())]
        dtype: Option<StoreDtype>,
    }

    /// serde (configs, checkpoints) and strum (command line, messages) use one set of names.
    fn same_names<T>()
    where
        T: strum::VariantNames + FromStr + std::fmt::Display + serde::Serialize,
        <T as FromStr>::Err: std::fmt::Debug,
    {
        for name in T::VARIANTS {
            let v: T = name.parse().unwrap();
            assert_eq!(&v.to_string(), name);
            assert_eq!(serde_json::to_value(&v).unwrap(), *name);
        }
    }

    #[test]
    fn every_choice_has_one_name_in_text_and_serde() {
        same_names::<VggArch>();
        same_names::<Preprocessing>();
        same_names::<Precision>();
        same_names::<StoreDtype>();
        assert_eq!(VggArch::VARIANTS, ["vgg16", "vgg19"]);
        assert_eq!(StoreDtype::VARIANTS, ["f32", "f16"]);
    }

    #[test]
    fn parses_aliases_and_lists_names_on_error() {
        let a = Args::try_parse_from(["x", "--arch", "VGG19", "--dtype", "half"]).unwrap();
        assert_eq!((a.arch, a.dtype), (Some(VggArch::Vgg19), Some(StoreDtype::F16)));
        let e = Args::try_parse_from(["x", "--arch", "resnet"]).unwrap_err().to_string();
        assert!(e.contains("resnet") && e.contains("vgg16") && e.contains("vgg19"), "{e}");
    }
}
