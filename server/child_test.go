package server

// childEnv, when set, makes the test binary run childMain instead of the
// tests (used by the subprocess tests).
const childEnv = "WEFT_SERVER_TEST_CHILD"

func childMain() int { return 2 }
