// Package version names this build of the toolchain. The compiler string is
// recorded inside every frozen file, so it must not vary between two builds
// of the same source (no dates, no VCS dirt).
package version

// Version is the toolchain's release.
const Version = "0.1.0"

// Compiler is what frozen files record as the program that wrote them.
const Compiler = "sockd-toolchain " + Version
