//! The process title shown by `ps` (`moltd: master process ...`).
//!
//! Linux shows /proc/PID/cmdline, which is the memory that held argv at exec.
//! Like nginx, the title is written over that memory, extended over the
//! environment strings that follow it; those strings are first copied to the
//! heap and `environ` is pointed at the copies so the environment stays
//! readable. The original argv must have been copied before (std's
//! `env::args` reads the same memory).

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

unsafe extern "C" {
    static mut environ: *mut *mut c_char;
}

/// The writable area for the title: [start, end) in this process's memory.
#[derive(Clone, Copy)]
struct Area {
    start: usize,
    end: usize,
}

static AREA: OnceLock<Option<Area>> = OnceLock::new();

/// Reads arg_start, arg_end, env_start, env_end from /proc/self/stat.
fn read_bounds() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields after the
    // last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some([get(48)?, get(49)?, get(50)?, get(51)?])
}

/// Moves the environment strings to the heap and returns the area that may
/// then be overwritten. Runs once per process image.
fn prepare() -> Option<Area> {
    let [arg_start, arg_end, env_start, env_end] = read_bounds()?;
    if arg_start == 0 || arg_end <= arg_start {
        return None;
    }
    // The environment strings are reusable only if they directly follow argv.
    let end = if env_start == arg_end && env_end > env_start {
        env_end
    } else {
        arg_end
    };
    // SAFETY: the process is single-threaded here (the master at startup),
    // so nothing reads `environ` concurrently. Each entry is a valid C string
    // until replaced; the copies are leaked on purpose because the
    // environment must stay valid for the life of the process.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let s = *p as usize;
            if s >= arg_start && s < end {
                let copy = CString::from(CStr::from_ptr(*p));
                *p = copy.into_raw();
            }
            p = p.add(1);
        }
    }
    Some(Area {
        start: arg_start,
        end,
    })
}

/// Sets the title shown by `ps`; silently truncated to the space available.
pub fn set(title: &str) {
    debug_assert!(super::fork::thread_count() <= 1);
    let Some(area) = *AREA.get_or_init(prepare) else {
        return;
    };
    let len = area.end - area.start;
    if len < 2 {
        return;
    }
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, end) is this process's argv (and, when contiguous,
    // environment string) memory, mapped writable by the kernel at exec.
    // The environment strings were moved out by `prepare`, and argv was
    // copied by the caller before the first call, so nothing reads it.
    unsafe {
        let dst = area.start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, len - n);
    }
}
