"""The report's sections: each measures on one kind of labelled data and returns a Section (tables
as rows, and the targets it checked); render.py writes them."""
