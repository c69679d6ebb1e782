// Package layout holds tests of the shape of the module's code, which no
// single package can check for the others: no function longer than a
// screen outside tests.
package layout
