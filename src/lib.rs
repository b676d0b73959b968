//! Workspace root package: owns the integration tests and examples.
