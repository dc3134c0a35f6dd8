package engine

// SendFingerprint is exported for the external tests.
var SendFingerprint = sendFingerprint
