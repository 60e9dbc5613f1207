//! Third-party readers that panic on malformed input instead of returning an error (the
//! `tokenizers` crate's decoder deserialiser calls `expect`): their panics caught and turned
//! into errors, with no panic message on stderr.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

/// Serialises the swaps of the process's panic hook.
static HOOK: Mutex<()> = Mutex::new(());

/// Runs `read`; a panic inside it becomes `Err` with the panic's message. While it runs, the
/// panic hook is replaced by one that only records the message (a panic on another thread in
/// that moment is silenced too; it still unwinds as usual).
pub fn catch_quietly<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    let _guard = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let message = Arc::new(Mutex::new(String::new()));
    let recorder = Arc::clone(&message);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = match info.payload().downcast_ref::<&str>() {
            Some(text) => text.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic".into()),
        };
        if let Ok(mut message) = recorder.lock() {
            *message = text;
        }
    }));
    let result = catch_unwind(AssertUnwindSafe(read));
    std::panic::set_hook(previous);
    result.map_err(|_| {
        message
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|_| "a panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let result: Result<(), String> = catch_quietly(|| panic!("malformed {}", 7));
        assert_eq!(result.unwrap_err(), "malformed 7");
        assert_eq!(catch_quietly(|| 5), Ok(5));
    }
}
