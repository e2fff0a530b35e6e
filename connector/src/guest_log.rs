//! Logging from the guest into the host's structured log. Natively (unit tests) it prints to
//! stderr, since the host import exists only inside the component.

/// Severity of a record.
pub use crate::baton::connector::log::Level;

/// Writes one record with key/value fields.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::baton::connector::log::write(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message} {fields:?}");
}

/// A debug record.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    write(Level::Debug, message, fields)
}

/// An info record.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    write(Level::Info, message, fields)
}
