print("logimg")
