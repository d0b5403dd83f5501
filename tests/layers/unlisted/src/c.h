/* fixture: a file the table forgot */
