//! The abstract value domain of the constant propagation: a small set of 32-bit
//! constants, a set of "argument register k at function entry" symbols, and an
//! unknown flag; join is union and overflow becomes unknown.

use serde::{Deserialize, Serialize};

/// Constants kept per value before it degrades to unknown.
pub(crate) const MAX_CONSTS: usize = 12;

/// A register value as stored in summaries.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Val {
    /// Possible constant values (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consts: Vec<u32>,
    /// Bit k set: the value of argument k at function entry (0..=5 are rdi, rsi,
    /// rdx, rcx, r8, r9; 6 is rax at entry, meaningful through tail jumps).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub args: u8,
    /// Some path gives a value we cannot name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Val {
    pub fn unknown() -> Val {
        Val {
            unknown: true,
            ..Val::default()
        }
    }
    /// Argument indices in `args`.
    pub fn arg_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..8).filter(move |k| self.args & (1 << k) != 0)
    }
}

/// Compact copyable form used inside the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AVal {
    n: u8,
    c: [u32; MAX_CONSTS],
    args: u8,
    unknown: bool,
}

impl AVal {
    pub(crate) const UNKNOWN: AVal = AVal {
        n: 0,
        c: [0; MAX_CONSTS],
        args: 0,
        unknown: true,
    };

    pub(crate) fn arg(k: u8) -> AVal {
        AVal {
            n: 0,
            c: [0; MAX_CONSTS],
            args: 1 << k,
            unknown: false,
        }
    }

    /// A constant; values above 32 bits are not tracked.
    pub(crate) fn konst(v: u64) -> AVal {
        match u32::try_from(v) {
            Ok(v) => {
                let mut c = [0; MAX_CONSTS];
                c[0] = v;
                AVal {
                    n: 1,
                    c,
                    args: 0,
                    unknown: false,
                }
            }
            Err(_) => AVal::UNKNOWN,
        }
    }

    /// The value on a path where it is known to equal `v`: `v` itself, unless
    /// no path could give `v` (an infeasible edge keeps the old value).
    pub(crate) fn assume_equal(&self, v: u64) -> AVal {
        match u32::try_from(v) {
            Ok(c) if self.unknown || self.args != 0 || self.consts().contains(&c) => AVal::konst(v),
            _ => *self,
        }
    }

    /// The one constant this value can be.
    pub(crate) fn single(&self) -> Option<u32> {
        match self.consts() {
            [c] if !self.unknown && self.args == 0 => Some(*c),
            _ => None,
        }
    }

    fn consts(&self) -> &[u32] {
        self.c.get(..usize::from(self.n)).unwrap_or(&[])
    }

    #[cfg(test)]
    pub(crate) fn is_unknown(&self) -> bool {
        self.unknown
    }

    fn push(&mut self, v: u32) -> bool {
        if self.consts().contains(&v) {
            return true;
        }
        match self.c.get_mut(usize::from(self.n)) {
            Some(slot) => {
                *slot = v;
                self.n += 1;
                true
            }
            None => false,
        }
    }

    /// Union; returns the joined value.
    pub(crate) fn join(&self, o: &AVal) -> AVal {
        if self == o {
            return *self;
        }
        let mut r = *self;
        r.args |= o.args;
        r.unknown |= o.unknown;
        if !r.unknown {
            for &v in o.consts() {
                if !r.push(v) {
                    r.unknown = true;
                    break;
                }
            }
        }
        if r.unknown {
            // One representation of "unknown" (with its argument symbols),
            // so that equal states compare equal.
            r.n = 0;
            r.c = [0; MAX_CONSTS];
        }
        r
    }

    /// Apply `f` to every constant; argument symbols become unknown.
    pub(crate) fn map(&self, f: impl Fn(u64) -> u64) -> AVal {
        if self.unknown || self.args != 0 {
            return AVal::UNKNOWN;
        }
        let mut r = AVal {
            n: 0,
            c: [0; MAX_CONSTS],
            args: 0,
            unknown: false,
        };
        for &v in self.consts() {
            match u32::try_from(f(u64::from(v))) {
                Ok(x) => {
                    r.push(x);
                }
                Err(_) => return AVal::UNKNOWN,
            }
        }
        r
    }

    /// The value after `movsxd` from its 32-bit half into a 64-bit register:
    /// constants with the top bit set become unknown (past 32 bits), argument
    /// symbols are kept.
    pub(crate) fn sign_extended32(&self) -> AVal {
        if self.consts().iter().any(|&c| c >= 0x8000_0000) {
            AVal {
                args: self.args,
                ..AVal::UNKNOWN
            }
        } else {
            *self
        }
    }

    /// Keep the value through a 32-bit move (constants already fit; argument
    /// symbols are kept: syscall numbers and small arguments survive truncation).
    pub(crate) fn to_val(self) -> Val {
        let mut consts: Vec<u32> = self.consts().to_vec();
        consts.sort_unstable();
        Val {
            consts,
            args: self.args,
            unknown: self.unknown,
        }
    }
}

#[cfg(test)]
mod t {
    use super::*;
    #[test]
    fn join_overflow_becomes_unknown() {
        let mut v = AVal::konst(0);
        for i in 1..=MAX_CONSTS as u64 {
            v = v.join(&AVal::konst(i));
        }
        assert!(v.is_unknown());
        let w = AVal::konst(3).join(&AVal::arg(0)).join(&AVal::konst(3));
        assert_eq!(w.to_val().consts, vec![3]);
        assert_eq!(w.to_val().args, 1);
        assert!(AVal::konst(1 << 40).is_unknown());
        assert_eq!(AVal::konst(5).map(|x| x + 1).to_val().consts, vec![6]);
        assert!(AVal::arg(1).map(|x| x + 1).is_unknown());
        // movsxd: a negative 32-bit constant is past 32 bits once extended.
        assert!(AVal::konst(0x8000_0000).sign_extended32().is_unknown());
        assert_eq!(AVal::konst(7).sign_extended32(), AVal::konst(7));
        let mixed = AVal::konst(0xffff_ff9c)
            .join(&AVal::arg(2))
            .sign_extended32();
        assert!(mixed.is_unknown());
        assert_eq!(mixed.to_val().args, 1 << 2);
    }
}
