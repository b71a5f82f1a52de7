// DFG 2D benchmark channel (Schaefer & Turek 1996): 2.2 x 0.41, cylinder r = 0.05 at (0.2, 0.2).
// gmsh -2 channel_cylinder.geo -setnumber h 0.05 -o channel_cylinder.msh
SetFactory("OpenCASCADE");
DefineConstant[ h = {0.05, Name "element size"} ];
Rectangle(1) = {0, 0, 0, 2.2, 0.41};
Disk(2) = {0.2, 0.2, 0, 0.05};
BooleanDifference(3) = { Surface{1}; Delete; }{ Surface{2}; Delete; };
eps = 1e-6;
inlet() = Curve In BoundingBox{-eps, -eps, -eps, eps, 0.41 + eps, eps};
outlet() = Curve In BoundingBox{2.2 - eps, -eps, -eps, 2.2 + eps, 0.41 + eps, eps};
bottom() = Curve In BoundingBox{-eps, -eps, -eps, 2.2 + eps, eps, eps};
top() = Curve In BoundingBox{-eps, 0.41 - eps, -eps, 2.2 + eps, 0.41 + eps, eps};
cyl() = Curve In BoundingBox{0.15 - eps, 0.15 - eps, -eps, 0.25 + eps, 0.25 + eps, eps};
Physical Curve("inlet", 1) = {inlet()};
Physical Curve("outlet", 2) = {outlet()};
Physical Curve("walls", 3) = {bottom(), top()};
Physical Curve("cylinder", 4) = {cyl()};
Physical Surface("domain", 1) = {3};
Mesh.MeshSizeMax = h;
MeshSize{ PointsOf{ Curve{cyl()}; } } = h / 3;
