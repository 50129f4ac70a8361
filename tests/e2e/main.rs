//! End-to-end tests of the `wf` binary: each test writes a manifest into a temporary folder,
//! runs the real binary on it and checks exit codes, output, reports and files.

mod processes;
mod support;

mod cleanup;
mod examples;
mod flood;
mod gc;
mod hardening;
mod injection;
mod inspect;
mod interrupts;
mod lifecycle;
mod newcomer;
mod onboarding;
mod output;
mod reports;
mod resources;
mod run;
mod slurm;
mod state;
mod validate;
