# Copyright (c) mmalfm contributors. All rights reserved.
