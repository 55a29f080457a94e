//! Wire protocol between the kiosk and the operator business system (BOSS).
