"""Virtual system migration classes (DSP1081 Virtual System Migration 1.0.0;
docs/migration.md)."""
