//! Ctrl-C, SIGTERM and SIGHUP while an archive is uploaded: the first one asks the upload to
//! stop (it is then aborted, so no parts are left behind); a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The flag the first signal sets, with the handler installed on first use.
pub fn cancel_flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        // A handler that cannot be installed leaves the default: the signal ends the process,
        // and the server keeps the incomplete upload until a lifecycle rule removes it.
        let _ = ctrlc::set_handler(move || {
            if seen.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

/// True once a signal asked to stop.
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|flag| flag.load(Ordering::SeqCst))
}
