module cookbook/gobench

go 1.19
