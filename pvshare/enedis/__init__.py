"""Enedis file formats: the dynamic key file a PMO sends, and load-curve exports."""
