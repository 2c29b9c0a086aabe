//! What a person sees while work goes on, so that no long run is silent: in a terminal, one live
//! status line (each running process's, side by side), redrawn as it changes and cleared before
//! any other line is printed; without one (CI logs), the same status as a plain line after 30 s
//! without output. Every line a command prints while processes run goes through [`line`].

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Without a terminal, a status line after this long without output.
const PLAIN_EVERY: Duration = Duration::from_secs(30);

struct Board {
    /// Each running task's status.
    tasks: BTreeMap<u64, String>,
    /// What is drawn now (in a terminal), to clear it and to redraw only a change.
    drawn: Option<String>,
    /// When a line was last printed (without a terminal).
    last_output: Option<Instant>,
}

static BOARD: Mutex<Board> = Mutex::new(Board {
    tasks: BTreeMap::new(),
    drawn: None,
    last_output: None,
});

fn board() -> std::sync::MutexGuard<'static, Board> {
    BOARD.lock().unwrap_or_else(|p| p.into_inner())
}

/// The terminal stderr is, and its width; `None` when it is no terminal.
fn terminal() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(columns().unwrap_or(80))
}

#[cfg(unix)]
fn columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at one.
    let asked = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (asked == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn columns() -> Option<usize> {
    None
}

impl Board {
    fn clear(&mut self) {
        if self.drawn.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }

    /// Draw the tasks' statuses on one line that fits the terminal (a wrapped line could not
    /// be redrawn in place).
    fn draw(&mut self, width: usize) {
        let text: String = self.tasks.values().cloned().collect::<Vec<_>>().join(" | ");
        let text: String = text.chars().take(width.saturating_sub(1)).collect();
        if self.drawn.as_deref() == Some(text.as_str()) {
            return;
        }
        eprint!("\r{text}\x1b[K");
        let _ = std::io::stderr().flush();
        self.drawn = (!text.is_empty()).then_some(text);
    }
}

/// Print `text` as a line of its own (the status line, if any, is cleared and drawn again).
pub fn line(text: &str) {
    let mut board = board();
    board.clear();
    eprintln!("{text}");
    board.last_output = Some(Instant::now());
    if let Some(width) = terminal() {
        board.draw(width);
    }
}

/// A new task's id.
pub fn task() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Set the status of task `id` (`None`: it is done).
pub fn status(id: u64, text: Option<String>) {
    let mut board = board();
    match text {
        Some(text) => board.tasks.insert(id, text),
        None => board.tasks.remove(&id),
    };
    match terminal() {
        Some(width) => {
            board.clear();
            board.draw(width);
        }
        None => {
            let since = *board.last_output.get_or_insert_with(Instant::now);
            if !board.tasks.is_empty() && since.elapsed() >= PLAIN_EVERY {
                let text: Vec<String> = board.tasks.values().cloned().collect();
                eprintln!("… {}", text.join(" | "));
                board.last_output = Some(Instant::now());
            }
        }
    }
}

/// `1m12s`, `12s`, `0.4s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{:.1}s", d.as_secs_f64()),
        1..=59 => format!("{secs}s"),
        _ => format!("{}m{:02}s", secs / 60, secs % 60),
    }
}

/// A status kept for one piece of in-process work that takes a while (hashing a workspace's
/// files): `label: 12000 of 80000`, from its second second on.
pub struct Count {
    label: String,
    id: u64,
    start: Instant,
    shown: Option<Instant>,
}

impl Count {
    pub fn new(label: impl Into<String>) -> Count {
        Count {
            label: label.into(),
            id: task(),
            start: Instant::now(),
            shown: None,
        }
    }

    pub fn tick(&mut self, done: usize, total: usize) {
        let due = match self.shown {
            None => self.start.elapsed() >= Duration::from_secs(2),
            Some(t) => t.elapsed() >= Duration::from_millis(250),
        };
        if due {
            status(
                self.id,
                Some(format!(
                    "{}: {done} of {total} ({})",
                    self.label,
                    duration(self.start.elapsed())
                )),
            );
            self.shown = Some(Instant::now());
        }
    }
}

impl Drop for Count {
    fn drop(&mut self) {
        status(self.id, None);
    }
}

/// While it lives, a task's status says it is waiting for `what`, with the time (for a process
/// whose output is read whole at its end).
pub struct Waiting {
    id: u64,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Waiting {
    pub fn on(what: String) -> Waiting {
        let id = task();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                if start.elapsed() >= Duration::from_secs(2) {
                    status(id, Some(format!("{what} {}", duration(start.elapsed()))));
                }
            }
            status(id, None);
        });
        Waiting {
            id,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        status(self.id, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(duration(Duration::from_secs(12)), "12s");
        assert_eq!(duration(Duration::from_secs(72)), "1m12s");
    }
}
