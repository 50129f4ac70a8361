//! Memory and counted resources in the manifest: `[workflow].memory`, `[resources]`, and each
//! task's `mem`, `mem_limit` and `resources`, checked and resolved onto the tasks.
//!
//! Locks and counted resources share one table (a lock is a resource a task takes one unit
//! of), so the scheduler has one all-or-none acquisition for both.

use std::collections::HashMap;
use std::ops::Range;

use super::diagnostic::{Findings, ManifestError};
use super::raw::MemoryValue;
use super::size::format_size;
use super::spanned::Sp;
use crate::workflow::{Lock, MemoryBudget, Task};

/// The checked `[workflow].memory`, with where it was written.
pub struct Budget {
    /// The budget.
    pub budget: MemoryBudget,
    /// The value's span, when it was written.
    pub span: Option<Range<usize>>,
}

impl Budget {
    /// From the raw value (default: auto).
    pub fn from_raw(raw: Option<&Sp<MemoryValue>>) -> Self {
        Self {
            budget: match raw.map(|m| m.value) {
                None | Some(MemoryValue::Auto) => MemoryBudget::Auto,
                Some(MemoryValue::Off) => MemoryBudget::Off,
                Some(MemoryValue::Fixed(bytes)) => MemoryBudget::Fixed(bytes),
            },
            span: raw.map(|m| m.span.clone()),
        }
    }
}

/// What one expanded task wrote about its memory and resources, for checks after expansion.
#[derive(Debug, Clone, Default)]
pub struct TaskNeeds {
    /// The `mem` value's span (the task's or `[defaults]`'s).
    pub mem_span: Option<Range<usize>>,
    /// The `mem_limit` value's span.
    pub mem_limit_span: Option<Range<usize>>,
    /// Each `resources` entry: its name and its amount as text (rendered for this expansion).
    pub amounts: Vec<(Sp<String>, Sp<String>)>,
}

impl TaskNeeds {
    /// True when the task wrote none of them (then no check has anything to do).
    pub fn is_empty(&self) -> bool {
        self.mem_span.is_none() && self.mem_limit_span.is_none() && self.amounts.is_empty()
    }
}

/// The `[locks]` and `[resources]` declarations as one list for the lock table, reporting a
/// name declared in both. Returns the names declared as counted resources.
pub fn merge_declarations(
    locks: &mut Vec<(Sp<String>, Sp<i64>)>,
    resources: Vec<(Sp<String>, Sp<i64>)>,
    findings: &mut Findings,
) -> Vec<String> {
    let mut counted = Vec::with_capacity(resources.len());
    for (name, capacity) in resources {
        if locks.iter().any(|(n, _)| n.value == name.value) {
            findings.push(ManifestError::DuplicateResource {
                name: name.value.clone(),
                span: name.span.clone().into(),
            });
            continue;
        }
        counted.push(name.value.clone());
        locks.push((name, capacity));
    }
    counted
}

/// Gives each task its resource amounts, and checks every amount and every `mem` against
/// what exists.
pub fn assign(
    tasks: &mut [Task],
    needs: &[TaskNeeds],
    locks: &[Lock],
    counted: &[String],
    budget: &Budget,
    findings: &mut Findings,
) {
    let index: HashMap<&str, usize> = locks
        .iter()
        .enumerate()
        .filter(|(_, lock)| counted.contains(&lock.name))
        .map(|(id, lock)| (lock.name.as_str(), id))
        .collect();
    // One finding per written value, not one per matrix expansion.
    let mut reported: Vec<Range<usize>> = Vec::new();
    let mut report = |span: &Range<usize>, finding: ManifestError, findings: &mut Findings| {
        if !reported.contains(span) {
            reported.push(span.clone());
            findings.push(finding);
        }
    };
    for (task, need) in tasks.iter_mut().zip(needs) {
        if let (MemoryBudget::Fixed(limit), Some(mem), Some(span), Some(budget_span)) =
            (budget.budget, task.mem(), &need.mem_span, &budget.span)
        {
            if mem > limit {
                report(
                    span,
                    ManifestError::MemAboveBudget {
                        task: task.base().to_owned(),
                        mem: format_size(mem),
                        budget: format_size(limit),
                        span: span.clone().into(),
                        budget_span: budget_span.clone().into(),
                    },
                    findings,
                );
            }
        }
        for (name, amount) in &need.amounts {
            let Some(&id) = index.get(name.value.as_str()) else {
                report(
                    &name.span,
                    ManifestError::UnknownResource {
                        task: task.base().to_owned(),
                        resource: name.value.clone(),
                        span: name.span.clone().into(),
                    },
                    findings,
                );
                continue;
            };
            let value = match amount.value.trim().parse::<i64>() {
                Ok(value) if value >= 1 => value,
                Ok(value) => {
                    report(
                        &amount.span,
                        ManifestError::InvalidResourceAmount {
                            message: format!(
                                "task `{}` asks for {value} of resource `{}`; an amount must be at least 1",
                                task.name, name.value
                            ),
                            span: amount.span.clone().into(),
                        },
                        findings,
                    );
                    continue;
                }
                Err(_) => {
                    report(
                        &amount.span,
                        ManifestError::InvalidResourceAmount {
                            message: format!(
                                "task `{}` asks for `{}` of resource `{}`, which is not an integer",
                                task.name, amount.value, name.value
                            ),
                            span: amount.span.clone().into(),
                        },
                        findings,
                    );
                    continue;
                }
            };
            let capacity = i64::from(locks[id].capacity);
            if value > capacity {
                report(
                    &amount.span,
                    ManifestError::ResourceAboveCapacity {
                        task: task.name.clone(),
                        resource: name.value.clone(),
                        amount: value,
                        capacity,
                        span: amount.span.clone().into(),
                    },
                    findings,
                );
                continue;
            }
            let amount = u32::try_from(value).unwrap_or(u32::MAX);
            let resources = &mut task.details.get_or_insert_default().resources;
            match resources.iter_mut().find(|(l, _)| *l == id) {
                Some((_, held)) => *held = amount,
                None => resources.push((id, amount)),
            }
        }
    }
}

/// Warns about each `mem_limit` when this machine cannot enforce memory limits.
pub fn warn_unenforced(tasks: &[Task], needs: &[TaskNeeds], findings: &mut Findings) {
    let mut seen: Vec<Range<usize>> = Vec::new();
    let mut why: Option<String> = None;
    for (task, need) in tasks.iter().zip(needs) {
        let (Some(_), Some(span)) = (task.mem_limit(), &need.mem_limit_span) else {
            continue;
        };
        if seen.contains(span) {
            continue;
        }
        seen.push(span.clone());
        let reason = why.get_or_insert_with(|| {
            crate::exec::local::cgroup::unavailable_reason().unwrap_or_default()
        });
        if reason.is_empty() {
            return;
        }
        findings.push(ManifestError::MemLimitUnenforced {
            task: task.base().to_owned(),
            why: reason.clone(),
            span: span.clone().into(),
        });
    }
}
