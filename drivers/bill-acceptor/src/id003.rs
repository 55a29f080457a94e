//! JCM ID-003.
