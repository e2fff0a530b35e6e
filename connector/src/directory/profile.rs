//! Profile fields of resources (users, groups, spaces).

use crate::types::{ProfileField, ProfileValue};

/// A text profile field.
pub fn text(key: &str, value: &str) -> ProfileField {
    ProfileField { key: key.into(), value: ProfileValue::Text(value.into()) }
}
