// LatticeAPI (the node's commands, `Arguments`, `CLIError`, `JSON`) for every file of this
// target: SimulateCommand.swift uses them without importing the library (it is being edited
// elsewhere). Once it imports LatticeAPI itself, this file can go.
@_exported import LatticeAPI
