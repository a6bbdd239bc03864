//! (stub until the phone module lands; signatures are the contract)
#![allow(unused_variables, dead_code)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PhoneNumber(String);
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PhoneError {
    #[error("not a phone number")]
    NotANumber,
}
impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<PhoneNumber, PhoneError> {
        todo!()
    }
    pub fn from_stored(e164: String) -> PhoneNumber {
        PhoneNumber(e164)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_nanp(&self) -> bool {
        self.0.starts_with("+1")
    }
    pub fn time_zones(&self) -> &'static [chrono_tz::Tz] {
        todo!()
    }
}
impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
