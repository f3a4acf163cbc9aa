//go:build chaos

package chaostest

// longByDefault: with the chaos tag TestChaos runs the long variant.
const longByDefault = true
