"""Huge choice sets (issue 18): allowed outputs as a flattened token trie (engine side, torch)."""
