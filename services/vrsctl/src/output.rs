//! Everything vrsctl prints to stdout goes through [`out!`] and [`outln!`].
//!
//! `println!` panics when stdout is closed early (`vrsctl … | head -1`):
//! Rust ignores SIGPIPE, so the write fails with `BrokenPipe` instead of the
//! process being ended by the signal. These macros end the process quietly
//! with status 0 then, as Unix tools do; any other write error is reported
//! and ends it with status 1.

use std::io::Write;

/// Writes to stdout and flushes, so that a closed pipe is noticed here.
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        failed(&e)
    }
}

fn failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader has what it wanted: nothing to say.
        std::process::exit(0)
    }
    eprintln!("error: writing to stdout: {e}");
    std::process::exit(1)
}

/// `print!` to stdout, ending quietly when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// `println!` to stdout, ending quietly when stdout is closed.
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
