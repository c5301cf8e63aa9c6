"""Internet10: multi-chapter virtual conferences and event hubs for Internet Society chapters."""
