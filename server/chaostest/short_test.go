//go:build !chaos

package chaostest

// longByDefault: without the chaos tag TestChaos runs only when OCTOPUSMQ_CHAOS is set.
const longByDefault = false
