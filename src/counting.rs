//! One way to define a set of counters: the crate's `counter_set!` macro
//! turns one list of fields into the live atomics (`XCounters`, written by
//! the thread that counts, readable from any thread), their snapshot
//! (`XStats`, plain numbers, `Copy`) and the rows the plugin reports to the
//! user (the snapshot's `ROWS`). A counter is declared once, so the three
//! cannot drift.
//!
//! Live is always `…Counters`, a snapshot always `…Stats`.

/// How a reported counter reads in the host log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Worth knowing, nothing lost (a clock source changed).
    Info,
    /// Something was lost, late or ignored.
    Warning,
}

/// One reported counter of a snapshot `S`: what the user reads when it moves.
#[derive(Clone, Copy, Debug)]
pub struct Row<S> {
    /// The field's name, for tests and tools that look a counter up.
    pub name: &'static str,
    /// How serious a move is.
    pub severity: Severity,
    /// What the user reads after the number (`{source}`: the clock source
    /// followed, filled in by the report).
    pub what: &'static str,
    /// The counter's value in a snapshot.
    pub read: fn(&S) -> u64,
}

/// A total as last looked at, to count what is new since: the one way a
/// reader that moves a total elsewhere (onto a reported counter, into a
/// decision) remembers where it was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Since(u64);

impl Since {
    /// Starting from `total`: only what comes after it is new.
    pub const fn at(total: u64) -> Self {
        Self(total)
    }

    /// How much `total` grew since the last look (0 if it did not), and
    /// remember it. A total below the highest seen is not counted again.
    ///
    /// # Realtime Safety
    /// Plain arithmetic.
    #[inline]
    pub fn take(&mut self, total: u64) -> u64 {
        let new = total.saturating_sub(self.0);
        self.0 = self.0.max(total);
        new
    }
}

/// The atomic type of a counter of integer type `u64` or `i64`.
macro_rules! atomic_of {
    (u64) => {
        ::std::sync::atomic::AtomicU64
    };
    (i64) => {
        ::std::sync::atomic::AtomicI64
    };
}
pub(crate) use atomic_of;

/// Defines a counter set (see the module docs):
///
/// ```ignore
/// counter_set! {
///     /// Live doc.
///     pub struct XCounters => XStats {
///         /// A statistic (not reported).
///         events: u64,
///         /// A loss, reported as a warning.
///         lost: u64 => Warning "message(s) lost",
///     }
///     // Optional: fields of the live struct only, copied as written.
///     extra { bell: AtomicU64 }
/// }
/// ```
///
/// The live struct gets `snapshot()` (relaxed loads: each value exact, the
/// set not one atomic instant) and `counter(name)` (a `u64` counter by its
/// field name); the snapshot gets `ROWS`, one [`Row`] per field with a text,
/// in field order.
macro_rules! counter_set {
    (
        $(#[$lmeta:meta])*
        $vis:vis struct $Live:ident => $Snap:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $int:ident $(=> $sev:ident $what:literal)?
            ),* $(,)?
        }
        $( extra { $( $(#[$xmeta:meta])* $xvis:vis $xfield:ident : $xty:ty ),* $(,)? } )?
    ) => {
        $(#[$lmeta])*
        #[derive(Debug, Default)]
        $vis struct $Live {
            $( $(#[$fmeta])* pub $field: $crate::counting::atomic_of!($int), )*
            $($( $(#[$xmeta])* $xvis $xfield: $xty, )*)?
        }

        #[doc = concat!("A copy of [`", stringify!($Live), "`] at one moment.")]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $Snap {
            $(
                #[doc = concat!("See [`", stringify!($Live), "::", stringify!($field), "`].")]
                pub $field: $int,
            )*
        }

        impl $Live {
            /// Every counter, read now. Each value is exact; the set is not
            /// one atomic instant while counting goes on.
            ///
            /// # Realtime Safety
            /// Relaxed atomic loads only.
            pub fn snapshot(&self) -> $Snap {
                $Snap {
                    $( $field: self.$field.load(::std::sync::atomic::Ordering::Relaxed), )*
                }
            }

            /// The `u64` counter named `name` (its field name), if there is one.
            #[allow(unreachable_patterns)]
            pub fn counter(&self, name: &str) -> Option<&::std::sync::atomic::AtomicU64> {
                let any: &dyn ::std::any::Any = match name {
                    $( stringify!($field) => &self.$field, )*
                    _ => return None,
                };
                any.downcast_ref()
            }
        }

        impl $Snap {
            /// The counters reported to the user when they move, in order.
            pub const ROWS: &'static [$crate::counting::Row<$Snap>] = &[
                $($(
                    $crate::counting::Row {
                        name: stringify!($field),
                        severity: $crate::counting::Severity::$sev,
                        what: $what,
                        read: |s| s.$field,
                    },
                )?)*
            ];
        }
    };
}
pub(crate) use counter_set;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    counter_set! {
        /// Live.
        pub struct TestCounters => TestStats {
            /// Not reported.
            events: u64,
            /// Signed.
            offset: i64,
            /// Reported.
            lost: u64 => Warning "lost",
            /// Reported, mildly.
            changed: u64 => Info "changed",
        }
        extra { bell: AtomicU64 }
    }

    #[test]
    fn since_counts_each_growth_once() {
        let mut s = super::Since::at(5);
        assert_eq!(s.take(5), 0);
        assert_eq!(s.take(8), 3);
        assert_eq!(s.take(8), 0);
        assert_eq!(s.take(6), 0, "a lower reading counts nothing");
        assert_eq!(s.take(9), 1, "and is not counted again later");
    }

    #[test]
    fn one_list_gives_atomics_snapshot_and_rows() {
        let c = TestCounters::default();
        c.events.fetch_add(3, Ordering::Relaxed);
        c.offset.store(-7, Ordering::Relaxed);
        c.counter("lost").unwrap().fetch_add(2, Ordering::Relaxed);
        c.bell.fetch_add(1, Ordering::Relaxed);
        assert!(c.counter("offset").is_none(), "not a u64 counter");
        assert!(c.counter("bell").is_none(), "not a counter of the set");
        let s = c.snapshot();
        assert_eq!(
            s,
            TestStats {
                events: 3,
                offset: -7,
                lost: 2,
                changed: 0
            }
        );
        let rows: Vec<_> = TestStats::ROWS
            .iter()
            .map(|r| (r.name, r.severity, r.what, (r.read)(&s)))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("lost", super::Severity::Warning, "lost", 2),
                ("changed", super::Severity::Info, "changed", 0)
            ]
        );
    }
}
