//! The lab: network namespaces made and torn down by the tests themselves.
