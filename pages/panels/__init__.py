"""Mission control's panels (pages/project_detail.py lays them out in tabs)."""
