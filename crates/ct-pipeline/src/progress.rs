//! Progress of long stages: a bar (or a spinner) on a terminal, and plain lines in a log
//! when stderr is not a terminal (a batch job's output file), where a bar would print
//! nothing or control characters.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A stage's progress, shared by the workers that advance it.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    msg: &'static str,
    total: u64,
    done: AtomicU64,
    started: Instant,
}

impl Progress {
    fn plain(msg: &'static str, total: u64) -> Progress {
        Progress {
            bar: None,
            msg,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// A stage of `n` items.
    pub(crate) fn bar(n: u64, msg: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() {
            eprintln!("{msg}: 0/{n}");
            return Progress::plain(msg, n);
        }
        let pb = ProgressBar::new(n);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>14} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(msg);
        Progress {
            bar: Some(pb),
            ..Progress::plain(msg, n)
        }
    }

    /// A stage without a count.
    pub(crate) fn spinner(msg: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() {
            eprintln!("{msg} …");
            return Progress::plain(msg, 0);
        }
        let pb = ProgressBar::new_spinner();
        pb.set_message(msg);
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress {
            bar: Some(pb),
            ..Progress::plain(msg, 0)
        }
    }

    /// One more item done; without a terminal, a line at every tenth of the stage.
    pub(crate) fn inc(&self, k: u64) {
        if let Some(pb) = &self.bar {
            pb.inc(k);
            return;
        }
        let before = self.done.fetch_add(k, Ordering::Relaxed);
        let now = before + k;
        if self.total > 0 && (10 * now / self.total) > (10 * before / self.total) {
            eprintln!(
                "{}: {now}/{} ({:.0} s)",
                self.msg,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// The stage is over (a bar stays on screen).
    pub(crate) fn finish(&self) {
        match &self.bar {
            Some(pb) => pb.finish(),
            None => self.done_line(),
        }
    }

    /// The stage is over (a spinner is removed).
    pub(crate) fn finish_and_clear(&self) {
        match &self.bar {
            Some(pb) => pb.finish_and_clear(),
            None => self.done_line(),
        }
    }

    fn done_line(&self) {
        if self.total == 0 {
            eprintln!(
                "{}: done in {:.1} s",
                self.msg,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
