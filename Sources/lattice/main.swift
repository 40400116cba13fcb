import LatticeCRDT

// Placeholder entry point: replaced by the CLI dispatcher below as commands land.
print("lattice: no command yet")
