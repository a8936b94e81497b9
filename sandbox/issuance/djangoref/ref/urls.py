from rest_framework.routers import SimpleRouter

from .api import InvestmentViewSet, OfferingViewSet

router = SimpleRouter()
router.register("api/investments", InvestmentViewSet)
router.register("api/offerings", OfferingViewSet)
urlpatterns = router.urls
