// The process and tool helpers of the tests (ServeProcess, ToolProcesses,
// FlushStream, FioVerify, TempDirectory, ImageFiles). The simulated file
// system, the crash-state explorer and the planted bugs are in
// Sources/LogImageTesting (logimg-crashtest uses them too); every test that
// imports this module sees them as well.
@_exported import LogImageTesting
